package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// countingSource is a data source written with the SDK that counts how
// often each job is applied, and holds Access jobs about people[20] until
// released.
type countingSource struct {
	url, secret string

	mu      sync.Mutex
	applied map[string]int
	hold    chan struct{}
}

func startCountingSource() *countingSource {
	GinkgoHelper()
	c := &countingSource{secret: protocol.NewSecret(), applied: map[string]int{}, hold: make(chan struct{})}
	h, err := datasource.New(datasource.Config{
		Secrets:    []string{c.secret},
		Identities: []string{"email"},
		Delete: func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
			// Slow enough that an operator killed mid-run leaves jobs open.
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return datasource.Result{}, ctx.Err()
			}
			c.mu.Lock()
			c.applied[job.ID]++
			c.mu.Unlock()
			return datasource.Result{Records: 1}, nil
		},
		// Access jobs about people[20] wait until released (the kstatus
		// spec); the others are answered at once.
		Access: func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
			if job.Subject == nil || job.Subject.Identities["email"] != people[20].Email {
				return datasource.Result{Records: 1, Data: map[string]string{"note": "answered at once"}}, nil
			}
			select {
			case <-c.hold:
				return datasource.Result{Records: 1, Data: map[string]string{"note": "held until released"}}, nil
			case <-ctx.Done():
				return datasource.Result{}, ctx.Err()
			}
		},
		Async: true,
	})
	Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(h)
	DeferCleanup(func() { srv.Close(); h.Close() })
	c.url = srv.URL
	return c
}

// release lets held Access jobs finish.
func (c *countingSource) release() { close(c.hold) }

// counts returns how often each job id was applied.
func (c *countingSource) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.applied))
	for k, v := range c.applied {
		out[k] = v
	}
	return out
}

func (c *countingSource) manifest(namespace string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels: {privacyoperator.io/datasource: "true"}
---
apiVersion: v1
kind: Secret
metadata:
  name: counter-signing
  namespace: %[1]s
stringData:
  signingSecret: %[2]s
---
apiVersion: privacyoperator.io/v1alpha1
kind: DataSource
metadata:
  name: counter
  namespace: %[1]s
  labels: {app.kubernetes.io/name: counter}
spec:
  endpoint:
    url: %[3]s
    insecure: true
    timeout: 10s
  signingSecretRef: {name: counter-signing, key: signingSecret}
  requestTypes: [Access, Delete]
  identities: [email]
  maxConcurrency: 4
  retry: {maxAttempts: 20, initialBackoff: 1s, maxBackoff: 5s}
`, namespace, c.secret, c.url)
}
