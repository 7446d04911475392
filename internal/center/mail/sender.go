package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// MaxBody bounds the text and HTML parts of a message together.
const MaxBody = 1 << 20

// Message is one mail to one person.
type Message struct {
	// To is the recipient's address.
	To string
	// Subject is one line.
	Subject string
	// Text is the plain-text part; every message has one.
	Text string
	// HTML is the optional HTML alternative of Text.
	HTML string
	// MessageID is the Message-ID to send, without angle brackets (for a
	// notice whose id is derived from its event, so that a resend can be
	// recognised); empty means a random one at the From address's domain.
	MessageID string
}

// Sender sends messages over SMTP; one connection per message. It is safe
// for concurrent use.
type Sender struct {
	cfg    Config
	from   *netmail.Address
	domain string
	tls    *tls.Config
}

// New checks cfg, and that its credential and CA files can be read now.
func New(cfg Config) (*Sender, error) {
	from, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if _, _, err := cfg.credentials(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Sender{cfg: cfg, from: from, domain: domain, tls: tc}, nil
}

// Addr is the server's host:port.
func (s *Sender) Addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

var messageIDPattern = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]{1,128}@[A-Za-z0-9.-]{1,253}$`)

// Send sends m as multipart/alternative (text, then HTML when there is
// some) and returns its Message-ID. It takes at most the configured
// timeout, less when ctx ends first. Its errors are *Error or say what is
// wrong with m, without quoting m.
func (s *Sender) Send(ctx context.Context, m Message) (string, error) {
	msg, id, err := s.compose(m)
	if err != nil {
		return "", err
	}
	user, pass, err := s.cfg.credentials()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	// Our own dialer, so that the end of ctx closes the connection at any
	// step (go-mail's context only covers the dial).
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.cfg.TLS == TLSImplicit {
			tc := tls.Client(conn, s.tls)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tls),
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The dialer did the handshake; this only keeps go-mail from
		// attempting STARTTLS inside TLS.
		opts = append(opts, gomail.WithSSL())
	}
	if user != "" {
		// Strongest first. PLAIN and LOGIN are only ever used over TLS:
		// the library refuses them on a clear connection, and Config
		// refuses credentials without TLS.
		opts = append(opts, gomail.WithUsername(user), gomail.WithPassword(pass),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
				gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return "", fmt.Errorf("mail: SMTP client for %s: %w", s.Addr(), err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil && !quitOnly(err) {
		return "", s.sendError(ctx, err)
	}
	return id, nil
}

// compose checks m and builds the message to send.
func (s *Sender) compose(m Message) (*gomail.Msg, string, error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, "", errors.New("mail: the recipient address is not valid")
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return nil, "", errors.New("mail: no subject")
	case strings.ContainsAny(m.Subject, "\r\n"):
		return nil, "", errors.New("mail: the subject has a line break")
	case len(m.Subject) > 998:
		return nil, "", errors.New("mail: the subject is longer than 998 bytes")
	case strings.TrimSpace(m.Text) == "":
		return nil, "", errors.New("mail: no text part")
	case len(m.Text)+len(m.HTML) > MaxBody:
		return nil, "", fmt.Errorf("mail: the body is larger than %d bytes", MaxBody)
	}
	id := m.MessageID
	if id == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b) + "@" + s.domain
	} else if !messageIDPattern.MatchString(id) {
		return nil, "", errors.New("mail: the Message-ID is not of the form left@domain")
	}

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(s.from.Name, s.from.Address); err != nil {
		return nil, "", fmt.Errorf("mail: From address: %w", err)
	}
	if err := msg.AddToFormat(to.Name, to.Address); err != nil {
		return nil, "", errors.New("mail: the recipient address is not valid")
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(id)
	// RFC 3834: an automatic message, so that vacation responders stay quiet.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, id, nil
}
