// Package mail sends the privacy center's mail (verification codes and
// notices) over SMTP, with github.com/wneessen/go-mail.
//
// It writes no logs, and its errors carry nothing of a message: no
// address, no subject, no body, and none of what the server answered once
// the message was handed to it (a server's reply to RCPT TO may quote the
// address). They name the server, the step that failed and the SMTP code.
package mail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"os"
	"strings"
	"time"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

const (
	// TLSNone sends in the clear: a relay on loopback or in the same pod,
	// and tests. Credentials are refused in this mode.
	TLSNone TLSMode = "none"
	// TLSStartTLS upgrades the connection with STARTTLS (usually port 587)
	// and fails when the server does not offer it: never a silent downgrade.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (usually port 465).
	TLSImplicit TLSMode = "tls"
)

const (
	// DefaultTimeout bounds one Send when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// MaxTimeout is the largest Config.Timeout accepted.
	MaxTimeout = 5 * time.Minute
	// maxSecretFile bounds what is read of a credential or CA file.
	maxSecretFile = 64 << 10
)

// Config is where and how to send. The credentials are files (a mounted
// Secret), read again for every message so that a rotated Secret takes
// effect without a restart.
type Config struct {
	// Host and Port of the SMTP server.
	Host string
	Port int
	// TLS is the protection of the connection; empty means TLSStartTLS.
	TLS TLSMode
	// UsernameFile and PasswordFile hold the SMTP credentials (a trailing
	// newline is ignored). Both or neither; neither means no
	// authentication.
	UsernameFile string
	PasswordFile string
	// CAFile is an optional PEM bundle to trust instead of the system's
	// roots, for a relay with a private CA.
	CAFile string
	// From is the sender, as in "Example Privacy <privacy@example.com>".
	From string
	// Timeout bounds one whole Send: connecting, TLS, authentication and
	// the message. Zero means DefaultTimeout; at most MaxTimeout.
	Timeout time.Duration
}

// validate checks cfg and returns the parsed From address.
func (cfg *Config) validate() (*netmail.Address, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: no SMTP host")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: SMTP port %d is not in 1-65535", cfg.Port)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("mail: TLS mode %q: want %q, %q or %q", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	if (cfg.UsernameFile == "") != (cfg.PasswordFile == "") {
		return nil, errors.New("mail: give both a username file and a password file, or neither")
	}
	if cfg.UsernameFile != "" && cfg.TLS == TLSNone {
		return nil, fmt.Errorf("mail: credentials are never sent without TLS: use TLS mode %q or %q", TLSStartTLS, TLSImplicit)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Timeout > MaxTimeout {
		return nil, fmt.Errorf("mail: timeout %s is not in (0, %s]", cfg.Timeout, MaxTimeout)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		// The From address is configuration, not a person's data: quote it.
		return nil, fmt.Errorf("mail: From address %q: %w", cfg.From, err)
	}
	return from, nil
}

// tlsConfig is the TLS configuration for the server, with the CA file's
// roots when there is one.
func (cfg *Config) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile == "" {
		return c, nil
	}
	pem, err := readSecretFile(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM([]byte(pem)) {
		return nil, fmt.Errorf("mail: CA file %s: no PEM certificate in it", cfg.CAFile)
	}
	return c, nil
}

// credentials reads the username and password files; empty when none are
// configured. Errors name the file, never its content.
func (cfg *Config) credentials() (user, pass string, err error) {
	if cfg.UsernameFile == "" {
		return "", "", nil
	}
	if user, err = readSecretFile(cfg.UsernameFile); err != nil {
		return "", "", err
	}
	if pass, err = readSecretFile(cfg.PasswordFile); err != nil {
		return "", "", err
	}
	user, pass = strings.TrimRight(user, "\r\n"), strings.TrimRight(pass, "\r\n")
	if user == "" || pass == "" {
		return "", "", fmt.Errorf("mail: credential file %s or %s is empty", cfg.UsernameFile, cfg.PasswordFile)
	}
	return user, pass, nil
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("mail: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("mail: read %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("mail: %s is larger than %d bytes", path, maxSecretFile)
	}
	return string(b), nil
}
