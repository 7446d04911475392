// Package mailin receives mail sent to the company's privacy address: an
// SMTP listener (github.com/emersion/go-smtp) behind the company's MX. It
// reads from each message the sender's address and, when the text says
// so, which right the person asks for and under which law, and hands that
// to Answer, which mails the sender a link to the privacy center's form,
// prefilled. Nothing is filed from a mail: the person files from the form.
// Neither the sender's address nor the text reaches a log.
package mailin

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Read is what the center took from a message.
type Read struct {
	// From is the sender's address (the From header's).
	From       string
	Type       privacyv1alpha1.RequestType
	Regulation privacyv1alpha1.Regulation
	Lang       string
	ReceivedAt time.Time
}

// Options configure the listener.
type Options struct {
	// Addresses are the recipients accepted, compared without case.
	Addresses []string
	// Domain is the name the listener greets with.
	Domain          string
	MaxMessageBytes int64
	// Answer is called once per message from a person (not for bounces
	// and auto-replies); its error is the sender's 451 (try again later).
	Answer func(context.Context, Read) error
	// Relays are the networks allowed to connect (the company's MX);
	// empty allows any. Others are refused at the greeting.
	Relays []netip.Prefix
	// Answers bounds the answers sent, over all senders (a flood of
	// forged senders cannot make the center mail many people); past it
	// a message gets 451 and the MX tries again later. Nil: unbounded.
	Answers *rate.Limiter
	Log     logr.Logger
	Now     func() time.Time
}

// New is the SMTP server; Serve or ListenAndServe it, Close to stop.
func New(addr string, o Options) *smtp.Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := smtp.NewServer(&backend{o: o})
	s.Addr, s.Domain = addr, o.Domain
	if s.Domain == "" {
		s.Domain = "localhost"
	}
	s.MaxMessageBytes, s.MaxRecipients = o.MaxMessageBytes, 10
	s.ReadTimeout, s.WriteTimeout = 60*time.Second, 60*time.Second
	s.ErrorLog = discard{}
	return s
}

type backend struct{ o Options }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if len(b.o.Relays) > 0 {
		addr, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String())
		if err != nil || !slices.ContainsFunc(b.o.Relays, func(p netip.Prefix) bool { return p.Contains(addr.Addr().Unmap()) }) {
			return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Only the company's mail relays may deliver here"}
		}
	}
	return &session{o: b.o}, nil
}

type session struct {
	o Options
	// bounce: the envelope sender is empty (a delivery report).
	bounce, rcpt bool
}

func (s *session) Reset()        { s.bounce, s.rcpt = false, false }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.bounce = from == ""
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !slices.ContainsFunc(s.o.Addresses, func(a string) bool { return strings.EqualFold(a, to) }) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such recipient here: write to the privacy address"}
	}
	s.rcpt = true
	return nil
}

func (s *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		_, _ = io.Copy(io.Discard, r)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "The message could not be read"}
	}
	if s.bounce || automatic(msg.Header) {
		// Never answer a machine: no loops, no backscatter.
		_, _ = io.Copy(io.Discard, msg.Body)
		s.o.Log.Info("automatic mail to the privacy address ignored")
		return nil
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		_, _ = io.Copy(io.Discard, msg.Body)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "The message has no sender address (From) to answer"}
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	text := bodyText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	_, _ = io.Copy(io.Discard, msg.Body)
	if s.o.Answers != nil && !s.o.Answers.Allow() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages; try again later"}
	}
	read := Read{From: from.Address, ReceivedAt: s.o.Now()}
	read.Type, read.Regulation, read.Lang = Guess(subject + "\n" + text)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := s.o.Answer(ctx, read); err != nil {
		s.o.Log.Error(err, "cannot answer a mail to the privacy address")
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	s.o.Log.Info("mail to the privacy address answered", "type", string(read.Type), "regulation", string(read.Regulation))
	return nil
}

// automatic reports an auto-reply, a mailing list or bulk mail (RFC 3834).
func automatic(h mail.Header) bool {
	if a := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); a != "" && a != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	return h.Get("List-Id") != "" || h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != ""
}

// maxText bounds the text read for hints; maxDepth the nesting of
// multipart parts followed (a deeper message is read as having no text).
const (
	maxText  = 16 << 10
	maxDepth = 5
)

// bodyText is the message's plain text (the first text/plain part of a
// multipart message), decoded, at most maxText bytes.
func bodyText(contentType, encoding string, body io.Reader, depth int) string {
	media, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		media, err = "text/plain", nil
	}
	if err != nil {
		return ""
	}
	if strings.HasPrefix(media, "multipart/") {
		if depth >= maxDepth {
			return ""
		}
		mr := multipart.NewReader(body, params["boundary"])
		for range 20 {
			part, err := mr.NextPart()
			if err != nil {
				return ""
			}
			if t := bodyText(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, depth+1); t != "" {
				return t
			}
		}
		return ""
	}
	if media != "text/plain" {
		return ""
	}
	var r io.Reader = io.LimitReader(body, 4*maxText)
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, _ := io.ReadAll(io.LimitReader(r, maxText))
	return string(bytes.ToValidUTF8(b, nil))
}

// discard drops go-smtp's own error log (it can quote what clients sent).
type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}

// ErrClosed is what ListenAndServe returns after Close.
var ErrClosed = smtp.ErrServerClosed
