package localstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mailpit is a mailpit process: an SMTP server on loopback that keeps
// every message it receives and serves them over its HTTP API. Built from
// the Go module proxy (hack/mailpit.sh), it has no web interface bundle:
// its browser page is blank, its API is whole.
type Mailpit struct {
	*Process
	// SMTPAddr is where to send (host:port).
	SMTPAddr string
	// API is the base URL of the HTTP API (http://127.0.0.1:PORT).
	API string
}

// StartMailpit starts bin on free loopback ports, its database in
// dir/mailpit, and waits until its API answers and its SMTP port greets.
func StartMailpit(ctx context.Context, dir, bin string) (*Mailpit, error) {
	home := filepath.Join(dir, "mailpit")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	// mailpit reads MP_* variables as flags: none of the caller's apply.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			env = append(env, kv)
		}
	}
	mp := &Mailpit{}
	err := startOnFreePorts(ctx, 2, func(addrs []string) (*Process, string, error) {
		mp.SMTPAddr, mp.API = addrs[0], "http://"+addrs[1]
		p, err := startProcess(dir, "mailpit", bin, env,
			"--smtp", addrs[0], "--listen", addrs[1], "--database", filepath.Join(home, "mailpit.db"),
			"--disable-version-check", "--smtp-disable-rdns", "--quiet")
		if err != nil {
			return nil, "", err
		}
		mp.Process = p
		return p, mp.API + "/readyz", nil
	})
	if err != nil {
		return nil, err
	}
	// The API can answer before the SMTP port has failed to bind.
	return mp, waitGreeting(ctx, mp.Process, mp.SMTPAddr)
}

// waitGreeting waits up to ten seconds for the SMTP server at addr to greet.
func waitGreeting(ctx context.Context, p *Process, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr); err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
			if strings.HasPrefix(line, "220") {
				return nil
			}
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s was not ready yet: %w", p.Name, p.exitError())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no SMTP greeting at %s; the last lines of %s:\n%s", p.Name, addr, p.LogPath, indentLines(p.Tail(tailLines)))
		}
	}
}

// Center is a cmd/privacy-center process against a control plane, sending
// its mail to a mailpit.
type Center struct {
	*Process
	// URL is the center's address (http://127.0.0.1:PORT), also its baseURL.
	URL string
	// SubjectNamespace holds the subject Secrets it creates.
	SubjectNamespace string
}

// CenterSubjectNamespace is where the local stack's center keeps subject
// Secrets: the operator's own namespace, which it creates at start and
// whose Secrets it reads (its --subject-secret-namespaces default).
const CenterSubjectNamespace = "privacy-operator-system"

// StartCenter starts the privacy center bin against cp on a free loopback
// port, with a sealing key of its own in cp.Dir/privacy-center/keys and
// its mail to mp, and Access exports read from exportDir (the operator's
// --export-dir; none offered when empty), and waits until it answers
// /healthz. One replica: it sends the notices itself (--leader-elect=false).
func StartCenter(ctx context.Context, cp *ControlPlane, bin string, mp *Mailpit, exportDir string) (*Center, error) {
	home := filepath.Join(cp.Dir, "privacy-center")
	keys := filepath.Join(home, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, err
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	if err := os.WriteFile(filepath.Join(keys, "k1"), []byte(base64.StdEncoding.EncodeToString(key[:])), 0o600); err != nil {
		return nil, err
	}
	smtpHost, smtpPort, err := net.SplitHostPort(mp.SMTPAddr)
	if err != nil {
		return nil, err
	}
	c := &Center{SubjectNamespace: CenterSubjectNamespace}
	configPath := filepath.Join(home, "config.yaml")
	err = startOnFreePorts(ctx, 1, func(addrs []string) (*Process, string, error) {
		c.URL = "http://" + addrs[0]
		config := fmt.Sprintf(`# The local stack's privacy center: its mail goes to a mailpit on loopback.
baseURL: %s
branding:
  companyName: Example Shop
subjectNamespace: %s
smtp:
  host: %s
  port: %s
  tls: none
  from: "Example Shop Privacy <privacy@shop.example.com>"
# Authorized agents registered as AuthorizedAgent objects may file over the
# Data Rights Protocol (docs/drp.md).
drp:
  businessID: example-shop
`, c.URL, c.SubjectNamespace, smtpHost, smtpPort)
		if exportDir != "" {
			config += fmt.Sprintf("# Access exports are handed over from the operator's export directory.\nexports:\n  dir: %s\n", exportDir)
		}
		if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
			return nil, "", err
		}
		p, err := StartProcess(cp.Dir, "privacy-center", bin,
			"--kubeconfig", cp.KubeconfigPath, "--config", configPath, "--keys-dir", keys,
			"--bind-address", addrs[0], "--leader-elect=false", "--requester", "")
		if err != nil {
			return nil, "", err
		}
		c.Process = p
		return p, c.URL + "/healthz", nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
