// Package mailtest gives tests a real SMTP server that keeps what it
// receives: a private mailpit per test on free loopback ports, built once
// from the Go module proxy by hack/mailpit.sh (or the binary named by
// MAILPIT_BIN), read through mailpit's HTTP API. A test that cannot have it
// fails; it is never skipped.
package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TB is what the helpers need of a test: *testing.T and GinkgoT() alike.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Options change how the server is started; the zero value is plain SMTP
// without authentication.
type Options struct {
	// CertFile and KeyFile (PEM) make the server offer STARTTLS.
	CertFile, KeyFile string
	// RequireSTARTTLS refuses mail before STARTTLS; needs CertFile.
	RequireSTARTTLS bool
	// ImplicitTLS speaks TLS from the first byte; needs CertFile.
	ImplicitTLS bool
	// AuthFile is an htpasswd file (bcrypt): SMTP AUTH is then required.
	AuthFile string
	// AllowedRecipients, a regular expression, makes the server refuse
	// RCPT TO for every other address.
	AllowedRecipients string
}

// Server is a running mailpit.
type Server struct {
	// SMTPHost and SMTPPort are where to send.
	SMTPHost string
	SMTPPort int
	// API is the base URL of the HTTP API, as http://127.0.0.1:PORT.
	API string

	cmd    *exec.Cmd
	exited chan struct{}
	log    string      // mailpit's output
	tls    *tls.Config // to reach an SMTP port that speaks TLS at once
}

// Start starts a private mailpit for this test, stopped when it ends.
func Start(t TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	log := filepath.Join(tempDir(t), "mailpit.log")
	var lastErr error
	// A free port found here may be taken before mailpit binds it: retry.
	for range 3 {
		s, err := start(bin, log, opts)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("mailtest: start mailpit: %v", lastErr)
	return nil
}

func start(bin, log string, opts Options) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{SMTPHost: "127.0.0.1", SMTPPort: ports[0], API: "http://127.0.0.1:" + strconv.Itoa(ports[1]), log: log}
	args := []string{
		"--smtp", net.JoinHostPort(s.SMTPHost, strconv.Itoa(ports[0])),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}
	if opts.CertFile != "" {
		args = append(args, "--smtp-tls-cert", opts.CertFile, "--smtp-tls-key", opts.KeyFile)
	}
	if opts.RequireSTARTTLS {
		args = append(args, "--smtp-require-starttls")
	}
	if opts.ImplicitTLS {
		args = append(args, "--smtp-require-tls")
		pem, err := os.ReadFile(opts.CertFile)
		if err != nil {
			return nil, err
		}
		s.tls = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: s.SMTPHost}
		s.tls.RootCAs.AppendCertsFromPEM(pem)
	}
	if opts.AuthFile != "" {
		args = append(args, "--smtp-auth-file", opts.AuthFile)
	}
	if opts.AllowedRecipients != "" {
		args = append(args, "--smtp-allowed-recipients", opts.AllowedRecipients)
	}
	out, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	// mailpit reads MP_* variables as flags: none of the caller's apply.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("mailpit exited: %s", s.Logs())
		case <-time.After(50 * time.Millisecond):
		}
		if s.ready() {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("mailpit did not answer on %s within 30s: %s", s.API, s.Logs())
}

// ready: the API answers and the SMTP port greets (the API can answer
// before the SMTP port has failed to bind).
func (s *Server) ready() bool {
	resp, err := http.Get(s.API + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	addr := net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort))
	d := &net.Dialer{Timeout: time.Second}
	var c net.Conn
	if s.tls != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, s.tls)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	greeting := make([]byte, 4)
	_, err = io.ReadFull(c, greeting)
	return err == nil && string(greeting) == "220 "
}

// stop ends mailpit: SIGTERM, then SIGKILL after five seconds.
func (s *Server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Logs is what mailpit printed so far, for a failure message.
func (s *Server) Logs() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary is the path of the mailpit binary: MAILPIT_BIN, or the one
// hack/mailpit.sh builds (once, cached outside the repository).
func Binary(t TB) string {
	t.Helper()
	binOnce.Do(func() { binPath, binErr = binary() })
	if binErr != nil {
		t.Fatalf("mailtest: no mailpit for the mail tests: %v", binErr)
	}
	return binPath
}

func binary() (string, error) {
	if b := os.Getenv("MAILPIT_BIN"); b != "" {
		return b, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "hack", "mailpit.sh"), "build")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/mailpit.sh build: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// repoRoot is the root of this repository, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// freePorts finds n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
