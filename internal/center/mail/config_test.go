package mail_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/center/mail"
)

func TestConfigRefused(t *testing.T) {
	dir := t.TempDir()
	user, pass := filepath.Join(dir, "username"), filepath.Join(dir, "password")
	writeFile(t, user, "center")
	writeFile(t, pass, "hunter2-secret")
	ok := mail.Config{Host: "smtp.example.com", Port: 587, From: "privacy@example.com"}
	for _, c := range []struct {
		name string
		edit func(*mail.Config)
		want string
	}{
		{"no host", func(c *mail.Config) { c.Host = "" }, "no SMTP host"},
		{"port", func(c *mail.Config) { c.Port = 70000 }, "port 70000"},
		{"tls mode", func(c *mail.Config) { c.TLS = "ssl" }, `TLS mode "ssl"`},
		{"half credentials", func(c *mail.Config) { c.UsernameFile = user }, "both"},
		{"credentials in the clear", func(c *mail.Config) {
			c.TLS, c.UsernameFile, c.PasswordFile = mail.TLSNone, user, pass
		}, "never sent without TLS"},
		{"missing password file", func(c *mail.Config) {
			c.UsernameFile, c.PasswordFile = user, filepath.Join(dir, "nope")
		}, filepath.Join(dir, "nope")},
		{"empty password", func(c *mail.Config) {
			empty := filepath.Join(dir, "empty")
			writeFile(t, empty, "\n")
			c.UsernameFile, c.PasswordFile = user, empty
		}, "empty"},
		{"from", func(c *mail.Config) { c.From = "not an address" }, "From address"},
		{"timeout", func(c *mail.Config) { c.Timeout = time.Hour }, "timeout 1h0m0s"},
		{"CA file", func(c *mail.Config) { c.CAFile = user }, "no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := mail.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error quotes the password: %v", err)
			}
		})
	}
	if _, err := mail.New(ok); err != nil {
		t.Fatalf("New(%+v): %v", ok, err)
	}
}

// A message that cannot be sent is refused before any connection, and the
// error does not quote it.
func TestMessageRefused(t *testing.T) {
	// Port 1 on loopback: nothing listens, and nothing must be dialled.
	s := sender(t, mail.Config{Host: "127.0.0.1", Port: 1, TLS: mail.TLSNone})
	for _, c := range []struct {
		name string
		edit func(*mail.Message)
		want string
	}{
		{"recipient", func(m *mail.Message) { m.To = "ada.lovelace at example.com" }, "recipient address"},
		{"header injection", func(m *mail.Message) { m.Subject = "Hello\r\nBcc: ada@example.com" }, "line break"},
		{"no subject", func(m *mail.Message) { m.Subject = " " }, "no subject"},
		{"no text", func(m *mail.Message) { m.Text = "" }, "no text part"},
		{"too large", func(m *mail.Message) { m.HTML = strings.Repeat("x", mail.MaxBody) }, "larger than"},
		{"message id", func(m *mail.Message) { m.MessageID = "<ada@example.com>" }, "Message-ID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := message()
			c.edit(&m)
			_, err := s.Send(context.Background(), m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Send: %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "ada") {
				t.Fatalf("error quotes the message: %v", err)
			}
		})
	}
}
