// Package datasource is the Go SDK for services that hold personal data: an
// http.Handler that speaks the Privacy Operator's job protocol. It verifies
// the operator's signatures, decodes jobs, answers each job id once (a retry
// of a finished job gets the same answer, a retry of a running one 409),
// answers capabilities, and calls the service's own functions, either
// synchronously (200) or asynchronously (202, then a signed callback).
//
// It imports only pkg/protocol and the standard library: embedding it does
// not pull in Kubernetes.
package datasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// JobFunc executes one job against the service's data.
//
// Return a Result on success. Return an error made with Permanent for a job
// that can never succeed (the operator fails this source for the request),
// with Unavailable for a passing outage (the operator retries after the
// given delay), and any other error for a failure worth retrying.
type JobFunc func(ctx context.Context, job *protocol.Job) (Result, error)

// Result is what a JobFunc did.
type Result struct {
	// NotFound reports that the service holds nothing on the subject.
	NotFound bool
	// Records returned (Access) or changed (the other types).
	Records int64
	// Data is the subject's data for Access; it is encoded as JSON.
	Data any
	// Message is a short human-readable note; never put personal data in it.
	Message string
}

// Config configures a Handler.
type Config struct {
	// Secrets are the "whsec_" signing secrets shared with the operator.
	// Every one verifies incoming messages; the first signs answers and
	// callbacks. List two during a rotation.
	Secrets []string
	// Identities are the identity types the service can find a person by.
	Identities []string
	// Categories are the data categories the service holds.
	Categories []string

	// The service's functions; a nil function means the type is not served.
	Access, Delete, Correct, OptOut, Purge JobFunc

	// Async answers 202 at once and runs the function in the background,
	// then POSTs the final JobStatus to the job's callbackURL.
	Async bool
	// AsyncTypes are served asynchronously even when Async is false, such
	// as a Purge that may outlast the operator's endpoint timeout.
	AsyncTypes []protocol.JobType
	// Validate, when set, checks a job before it runs, also for jobs served
	// asynchronously. An error refuses the job for good: the answer is 422
	// with the error's text (never put personal data in it), nothing runs
	// and the job id is not recorded.
	Validate func(job *protocol.Job) error
	// Store remembers job ids; default: in memory, the latest 10000 jobs.
	Store Store
	// Client sends callbacks; default: a client with a 30 s timeout that
	// trusts the system roots and CallbackCABundle.
	Client *http.Client
	// CallbackCABundle is PEM of the CAs that sign the operator's callback
	// listener: by default the operator's own CA, published as ca.crt in
	// the ConfigMap privacy-operator-callback-ca of its namespace. Mount it
	// and pass its content here. Ignored when Client is set.
	CallbackCABundle []byte
	// CallbackAttempts bounds callback deliveries per job; default 5.
	CallbackAttempts int
	// CallbackBackoff is the first wait between callback attempts (doubled
	// each time); default 1 s.
	CallbackBackoff time.Duration
	// MaxRequestBytes bounds a job's size; default 1 MiB.
	MaxRequestBytes int64
	// Now tells the time; default time.Now.
	Now func() time.Time
	// Logger receives operational logs (never identities); default slog.Default().
	Logger *slog.Logger
}

// Handler serves the job protocol. Create it with New.
type Handler struct {
	cfg    Config
	keys   []protocol.Key
	funcs  map[protocol.JobType]JobFunc
	replay *protocol.ReplayGuard
	mux    *http.ServeMux

	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
}

// New returns a Handler for cfg, or an error naming what is missing.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("datasource: at least one signing secret is required")
	}
	h := &Handler{cfg: cfg, replay: protocol.NewReplayGuard(), cancels: map[string]context.CancelFunc{}}
	for i, s := range cfg.Secrets {
		k, err := protocol.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("datasource: secret %d: %w", i, err)
		}
		h.keys = append(h.keys, k)
	}
	h.funcs = map[protocol.JobType]JobFunc{}
	for t, f := range map[protocol.JobType]JobFunc{
		protocol.JobAccess: cfg.Access, protocol.JobDelete: cfg.Delete, protocol.JobCorrect: cfg.Correct,
		protocol.JobOptOut: cfg.OptOut, protocol.JobPurge: cfg.Purge,
	} {
		if f != nil {
			h.funcs[t] = f
		}
	}
	if len(h.funcs) == 0 {
		return nil, errors.New("datasource: no job function is set")
	}
	if h.cfg.Store == nil {
		h.cfg.Store = NewMemoryStore(10000)
	}
	if h.cfg.Client == nil {
		client, err := callbackClient(h.cfg.CallbackCABundle)
		if err != nil {
			return nil, err
		}
		h.cfg.Client = client
	}
	if h.cfg.CallbackAttempts <= 0 {
		h.cfg.CallbackAttempts = 5
	}
	if h.cfg.CallbackBackoff <= 0 {
		h.cfg.CallbackBackoff = time.Second
	}
	if h.cfg.MaxRequestBytes <= 0 {
		h.cfg.MaxRequestBytes = 1 << 20
	}
	if h.cfg.Now == nil {
		h.cfg.Now = time.Now
	}
	if h.cfg.Logger == nil {
		h.cfg.Logger = slog.Default()
	}
	h.ctx, h.stop = context.WithCancel(context.Background())

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST "+protocol.PathJobs, h.postJob)
	h.mux.HandleFunc("GET "+protocol.PathJobs+"/{id}", h.getJob)
	h.mux.HandleFunc("DELETE "+protocol.PathJobs+"/{id}", h.deleteJob)
	h.mux.HandleFunc("GET "+protocol.PathCapabilities, h.capabilities)
	return h, nil
}

// Close cancels running asynchronous jobs and waits for them and their
// callbacks to end.
func (h *Handler) Close() {
	h.stop()
	h.wg.Wait()
}
