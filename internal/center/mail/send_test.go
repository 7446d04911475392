package mail_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/center/mail"
	"github.com/privacyoperator/privacy-operator/internal/center/mail/mailtest"
)

const (
	to      = "ada.lovelace@example.com"
	subject = "Your request — confirm your e-mail address"
	text    = "Your code is 123456.\nOr follow the link below."
	html    = `<p>Your code is <strong>123456</strong>.</p>`
)

func message() mail.Message {
	return mail.Message{To: "Ada Lovelace <" + to + ">", Subject: subject, Text: text, HTML: html}
}

func sender(t *testing.T, cfg mail.Config) *mail.Sender {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Example Privacy <privacy@example.com>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	s, err := mail.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestSendReadBack(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := sender(t, mail.Config{Host: srv.SMTPHost, Port: srv.SMTPPort, TLS: mail.TLSNone})
	id, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Await(t, to, 10*time.Second)
	if got.Subject != subject {
		t.Errorf("subject %q, want %q", got.Subject, subject)
	}
	if len(got.To) != 1 || got.To[0].Address != to || got.To[0].Name != "Ada Lovelace" {
		t.Errorf("to %+v", got.To)
	}
	if got.From == nil || got.From.Address != "privacy@example.com" || got.From.Name != "Example Privacy" {
		t.Errorf("from %+v", got.From)
	}
	// SMTP carries lines ending in CRLF.
	if strings.ReplaceAll(strings.TrimSpace(got.Text), "\r\n", "\n") != text {
		t.Errorf("text part %q, want %q", got.Text, text)
	}
	if !strings.Contains(got.HTML, html) {
		t.Errorf("HTML part %q, want it to hold %q", got.HTML, html)
	}
	if got.MessageID != id || !strings.HasSuffix(id, "@example.com") {
		t.Errorf("Message-ID %q, Send returned %q", got.MessageID, id)
	}
	h := srv.Headers(t, got.ID)
	if ct := strings.Join(h["Content-Type"], ""); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type %q, want multipart/alternative", ct)
	}
	if a := strings.Join(h["Auto-Submitted"], ""); a != "auto-generated" {
		t.Errorf("Auto-Submitted %q", a)
	}
	if len(h["Date"]) != 1 {
		t.Errorf("Date %v", h["Date"])
	}

	// A text-only message is sent as text; a given Message-ID is kept.
	m := mail.Message{To: "grace@example.com", Subject: "Text only", Text: "Plain.", MessageID: "received.pr-abc@example.com"}
	if id, err := s.Send(context.Background(), m); err != nil || id != m.MessageID {
		t.Fatalf("Send text only: %q, %v", id, err)
	}
	plain := srv.Await(t, "grace@example.com", 10*time.Second)
	if plain.HTML != "" || strings.TrimSpace(plain.Text) != "Plain." || plain.MessageID != m.MessageID {
		t.Errorf("text-only message %+v", plain)
	}
}

func TestSendSTARTTLSWithCredentials(t *testing.T) {
	cert, key := mailtest.TLSFiles(t)
	srv := mailtest.Start(t, mailtest.Options{
		CertFile: cert, KeyFile: key, RequireSTARTTLS: true, AuthFile: mailtest.AuthFile(t, "center", "s3cret-password"),
	})
	dir := t.TempDir()
	user, pass := filepath.Join(dir, "username"), filepath.Join(dir, "password")
	writeFile(t, user, "center\n")
	writeFile(t, pass, "s3cret-password\n")
	cfg := mail.Config{Host: srv.SMTPHost, Port: srv.SMTPPort, TLS: mail.TLSStartTLS, UsernameFile: user, PasswordFile: pass, CAFile: cert}
	s := sender(t, cfg)
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.Await(t, to, 10*time.Second); got.Username != "center" || got.Subject != subject {
		t.Fatalf("received %+v", got)
	}

	// The password file is read for every message: a rotated Secret
	// applies at once, and a wrong password fails at the connect step.
	writeFile(t, pass, "not-the-password\n")
	_, err := s.Send(context.Background(), message())
	var me *mail.Error
	if !errors.As(err, &me) || me.Step != mail.StepConnect || me.Temporary {
		t.Fatalf("wrong password: %#v", err)
	}
	assertNoContent(t, err)
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("error quotes the password: %v", err)
	}

	// Without trusting the server's certificate, nothing is sent.
	cfg.CAFile = ""
	writeFile(t, pass, "s3cret-password\n")
	if _, err := sender(t, cfg).Send(context.Background(), message()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	cert, key := mailtest.TLSFiles(t)
	srv := mailtest.Start(t, mailtest.Options{CertFile: cert, KeyFile: key, ImplicitTLS: true})
	s := sender(t, mail.Config{Host: srv.SMTPHost, Port: srv.SMTPPort, TLS: mail.TLSImplicit, CAFile: cert})
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.Await(t, to, 10*time.Second); got.Subject != subject {
		t.Fatalf("received %+v", got)
	}
}

// STARTTLS is required, never a silent downgrade: a server that does not
// offer it gets nothing.
func TestSTARTTLSRequired(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := sender(t, mail.Config{Host: srv.SMTPHost, Port: srv.SMTPPort, TLS: mail.TLSStartTLS})
	_, err := s.Send(context.Background(), message())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("server without STARTTLS: %v", err)
	}
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages were sent in the clear", n)
	}
}

// A refused recipient fails at RCPT TO with the server's code, and the
// error holds neither the address (which the server's reply quotes) nor
// anything else of the message.
func TestRefusedRecipientLeaksNothing(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{AllowedRecipients: `@allowed\.example$`})
	s := sender(t, mail.Config{Host: srv.SMTPHost, Port: srv.SMTPPort, TLS: mail.TLSNone})
	_, err := s.Send(context.Background(), message())
	var me *mail.Error
	if !errors.As(err, &me) || me.Code/100 != 5 || !strings.Contains(me.Step, "RCPT") {
		t.Fatalf("refused recipient: %#v", err)
	}
	assertNoContent(t, err)
}

// A server that accepts the connection and never answers costs at most the
// timeout; a context that ends first ends the Send.
func TestTimeouts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Hold every connection open, silent, until the test ends.
	held := make(chan net.Conn, 8)
	go func() {
		defer close(held)
		for c, err := l.Accept(); err == nil; c, err = l.Accept() {
			held <- c
		}
	}()
	defer func() {
		l.Close()
		for c := range held {
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	s := sender(t, mail.Config{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, Timeout: 500 * time.Millisecond})
	start := time.Now()
	_, err = s.Send(context.Background(), message())
	if took := time.Since(start); err == nil || took > 3*time.Second {
		t.Fatalf("silent server: %v after %s", err, took)
	}
	var me *mail.Error
	if !errors.As(err, &me) || !me.Temporary {
		t.Fatalf("silent server: %#v, want a temporary *mail.Error", err)
	}
	assertNoContent(t, err)

	slow := sender(t, mail.Config{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = slow.Send(ctx, message())
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 3*time.Second {
		t.Fatalf("context ended: %v after %s", err, took)
	}
}

func assertNoContent(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{to, "ada", "Lovelace", subject, "123456", "confirm"} {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
			t.Fatalf("error %q holds %q", err, s)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
