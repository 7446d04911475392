package web_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"net/smtp"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/time/rate"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/mailin"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

var prefillLink = regexp.MustCompile(`/\?prefill=([A-Za-z0-9_-]+)`)

// TestRequestByMail: a person writes to the privacy address; the center's
// listener (a real SMTP exchange) answers with a link to the form,
// prefilled with the address and the right the text named; nothing is
// filed until the person sends the form from that link, which then needs
// no second mail; the deadline counts from the mail. Mail to another
// address is refused; an auto-reply gets no answer.
func TestRequestByMail(t *testing.T) {
	c := newCenter(t, func(cfg *config.Config, _ *web.Options) {
		cfg.MailIn = &config.MailIn{Addresses: []string{"privacy@example.com"}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	srv := c.Config.Handler.(*web.Server)
	var answered atomic.Int32
	var logMu sync.Mutex
	var logs bytes.Buffer
	log := funcr.New(func(prefix, args string) { logMu.Lock(); logs.WriteString(args + "\n"); logMu.Unlock() }, funcr.Options{})
	in := mailin.New("", mailin.Options{Addresses: []string{"privacy@example.com"}, MaxMessageBytes: 1 << 20, Log: log, Now: c.clock,
		Answer: func(ctx context.Context, r mailin.Read) error {
			answered.Add(1)
			return srv.AnswerMail(ctx, web.Prefill{Email: r.From, Type: r.Type, Regulation: r.Regulation, Lang: r.Lang, ReceivedAt: r.ReceivedAt})
		}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = in.Serve(l) }()
	t.Cleanup(func() { _ = in.Close() })
	send := func(from, to, msg string) error {
		return smtp.SendMail(l.Addr().String(), nil, from, []string{to}, []byte(strings.ReplaceAll(msg, "\n", "\r\n")))
	}

	email := "mailed-request@example.com"
	mailedAt, filed := c.clock(), len(requestsOfCenter(t))
	err = send(email, "privacy@example.com", "From: Grace <"+email+">\nTo: privacy@example.com\nSubject: =?utf-8?q?Please_delete_my_data?=\n"+
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nUnder the GDPR I ask you to er=\nase everything about me.\n")
	if err != nil {
		t.Fatalf("mail to the privacy address: %v", err)
	}
	answer := awaitSubject(t, c, email, "one more step")
	if len(requestsOfCenter(t)) != filed {
		t.Fatal("a request was filed from the mail alone")
	}
	m := prefillLink.FindStringSubmatch(answer.Text)
	if m == nil {
		t.Fatalf("the answer has no link to the form:\n%s", answer.Text)
	}
	c.advance(2 * time.Hour) // the person answers later; the deadline counts from the mail
	code, body, _ := c.do(t, "GET", "/?prefill="+m[1], nil, "Accept-Language", "en")
	if code != 200 || !strings.Contains(body, `value="`+email+`"`) || !regexp.MustCompile(`value="Delete" checked`).MatchString(body) ||
		!regexp.MustCompile(`value="GDPR" checked`).MatchString(body) || !strings.Contains(body, `name="prefill" value="`+m[1]+`"`) {
		t.Fatalf("the prefilled form: %d\n%s", code, body)
	}
	form := url.Values{"regulation": {"GDPR"}, "type": {"Delete"}, "id-email": {email}, "prefill": {m[1]}}
	_, _, header := c.do(t, "POST", "/requests", form)
	status := header.Get("Location")
	if !strings.HasPrefix(status, "/status/") {
		t.Fatalf("the form sent from the mail's link: Location %q, want the status page at once", status)
	}
	pr := c.requestAt(t, status)
	if pr.Spec.Type != privacyv1alpha1.RequestTypeDelete || pr.Spec.ReceivedAt == nil || !pr.Spec.ReceivedAt.Time.Equal(mailedAt.UTC().Truncate(time.Second)) {
		t.Fatalf("the request: %+v, want a Delete received when the mail came", pr.Spec)
	}
	if _, _, again := c.do(t, "POST", "/requests", form); c.requestAt(t, again.Get("Location")).Name != pr.Name {
		t.Fatal("the form sent twice from one link filed two requests")
	}
	// Another address on the form: the usual verification mail.
	other := url.Values{"regulation": {"GDPR"}, "type": {"Delete"}, "id-email": {"someone-else@example.com"}, "prefill": {m[1]}}
	if code, body, _ := c.do(t, "POST", "/requests", other); code != 200 || !strings.Contains(body, `name="code"`) {
		t.Fatalf("the link used for another address: %d, want the code page", code)
	}

	if err := send(email, "sales@example.com", "From: "+email+"\nSubject: hi\n\nhello\n"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("mail to another address: %v, want 550", err)
	}
	before := answered.Load()
	if err := send(email, "privacy@example.com", "From: "+email+"\nAuto-Submitted: auto-replied\nSubject: Out of office\n\nback monday\n"); err != nil {
		t.Fatal(err)
	}
	if err := send("", "privacy@example.com", "From: MAILER-DAEMON@example.com\nSubject: Undelivered\n\nbounce\n"); err != nil {
		t.Fatal(err)
	}
	if answered.Load() != before {
		t.Fatal("an auto-reply or a bounce was answered")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(c.logs.String(), email) || strings.Contains(logs.String(), email) || !strings.Contains(logs.String(), "answered") {
		t.Fatalf("the logs name the sender, or say nothing of the mail:\n%s", logs.String())
	}
}

// TestMailInGuards: only the company's relays may deliver, and answers
// are bounded over all senders (the MX is told to try again later).
func TestMailInGuards(t *testing.T) {
	var answered atomic.Int32
	start := func(o mailin.Options) string {
		o.Addresses, o.MaxMessageBytes, o.Log = []string{"privacy@example.com"}, 1<<20, logr.Discard()
		o.Answer = func(context.Context, mailin.Read) error { answered.Add(1); return nil }
		in := mailin.New("", o)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = in.Serve(l) }()
		t.Cleanup(func() { _ = in.Close() })
		return l.Addr().String()
	}
	msg := []byte("From: someone@example.com\r\nSubject: delete my data\r\n\r\nplease\r\n")
	other := start(mailin.Options{Relays: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err := smtp.SendMail(other, nil, "someone@example.com", []string{"privacy@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("a peer outside mailIn.allowedRelays: %v, want 554", err)
	}
	bounded := start(mailin.Options{Relays: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Answers: rate.NewLimiter(0, 1)})
	if err := smtp.SendMail(bounded, nil, "someone@example.com", []string{"privacy@example.com"}, msg); err != nil {
		t.Fatalf("the first message from a relay: %v", err)
	}
	if err := smtp.SendMail(bounded, nil, "someone@example.com", []string{"privacy@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("past the answers' bound: %v, want 451", err)
	}
	if answered.Load() != 1 {
		t.Fatalf("%d answers, want 1", answered.Load())
	}
}
