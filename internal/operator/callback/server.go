// Package callback serves the operator's callback listener: data sources
// POST the final JobStatus of an asynchronous job to {base}/callbacks/{id}.
// A callback is honoured only when it names a job the dispatcher knows,
// carries a valid signature by that job's DataSource key and was not seen
// before; anything else is refused (404 or 401) and never changes status.
package callback

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// PathPrefix is where callbacks are served; the job id follows it.
const PathPrefix = "/callbacks/"

// Server is the callback listener.
type Server struct {
	// BindAddress is the listen address, e.g. :9443; ignored when Listener is set.
	BindAddress string
	// Listener, when set, is served instead of listening on BindAddress.
	Listener net.Listener
	// Dispatcher knows the open jobs and takes the outcomes.
	Dispatcher *dispatch.Dispatcher
	// Rejected is told about a refused callback for a known source, so that
	// it can emit an Event on the DataSource.
	Rejected func(source types.NamespacedName, message string)
	// MaxBodyBytes bounds a callback (an Access result included).
	MaxBodyBytes int64
	// Now tells the time; default time.Now.
	Now func() time.Time
	// Log receives refusals (job ids and sources only).
	Log logr.Logger
	// TLS, when set, makes the listener serve HTTPS with it (its
	// GetCertificate supplies the certificate). Callbacks carry Access
	// results: only local development serves plain HTTP.
	TLS *tls.Config
	// Prepare, when set, runs before the listener starts (the self-signed
	// issuer loads or creates its CA then).
	Prepare func(context.Context) error
	// MaxConcurrent bounds the callbacks served at once; beyond it the
	// listener answers 429 with Retry-After. Default 32.
	MaxConcurrent int
	// Budget bounds the callback bodies held in memory (shared with the
	// dispatcher's client); nil: only MaxBodyBytes per callback.
	Budget *dispatch.Budget
	// Spool receives verified Access data; nil keeps it in the outcome.
	Spool dispatch.Spool
	// BudgetWait is how long a callback waits for memory before it is
	// answered 503; default 10 s.
	BudgetWait time.Duration
	// IsLeader reports whether this replica leads (holds the dispatcher's
	// state); nil: it always does (no leader election).
	IsLeader func() bool
	// Forward hands a follower's callbacks to the leader; nil: a follower
	// answers 503 and the source retries.
	Forward *Forwarder
	// Starting reports that this replica began to lead moments ago: its
	// engine has not yet gone through the open jobs its predecessor handed
	// over, so a callback for a job it does not know yet is answered 503
	// (retry) rather than 404 (the source would give up). Nil: never.
	Starting func() bool

	replay *protocol.ReplayGuard
	slots  chan struct{}
}

// URL returns the callback URL of a job under base.
func URL(base, jobID string) string {
	return base + PathPrefix + jobID
}

// Handler returns the HTTP handler of the listener.
func (s *Server) Handler() http.Handler {
	if s.replay == nil {
		s.replay = protocol.NewReplayGuard()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 16 << 20
	}
	if s.MaxConcurrent <= 0 {
		s.MaxConcurrent = 32
	}
	if s.BudgetWait <= 0 {
		s.BudgetWait = 10 * time.Second
	}
	s.slots = make(chan struct{}, s.MaxConcurrent)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPrefix+"{id}", s.route)
	return mux
}

// Start listens until ctx ends. It implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	if s.Prepare != nil {
		if err := s.Prepare(ctx); err != nil {
			return err
		}
	}
	l := s.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", s.BindAddress); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	var err error
	if s.TLS != nil {
		srv.TLSConfig = s.TLS
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection: every replica listens (a Service spreads callbacks
// over all of them); followers forward to the leader (see forward.go).
func (s *Server) NeedLeaderElection() bool { return false }

// route serves a callback on the leader and forwards it from a follower,
// after the checks that need no job state. A forwarded callback that
// reaches a follower (leadership moved meanwhile) is not sent on again.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.IsLeader == nil || s.IsLeader() {
		s.serve(w, r)
		return
	}
	if r.Header.Get(HeaderForwarded) != "" || s.Forward == nil {
		unavailable(w, "this replica is not the leader; retry after the delay")
		return
	}
	if err := protocol.CheckHeaders(r.Header, s.Now()); err != nil {
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	if r.ContentLength > s.MaxBodyBytes {
		refuse(w, http.StatusRequestEntityTooLarge, "callback body too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
	s.Forward.forward(w, r)
}

// serve checks everything it can before it reads the body: the job id
// names an open job, the signature headers are there and the timestamp is
// fresh, and a slot is free. Only then is the body read, bounded, under the
// memory budget.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	reg, ok := s.Dispatcher.Lookup(id)
	if !ok && s.Starting != nil && s.Starting() {
		unavailable(w, "the operator is taking over open jobs; retry after the delay")
		return
	}
	if !ok {
		s.Log.V(1).Info("refused a callback for an unknown job", "job", id)
		refuse(w, http.StatusNotFound, "unknown job")
		return
	}
	now := s.Now()
	if err := protocol.CheckHeaders(r.Header, now); err != nil {
		s.reject(reg.Source, id, "callback signature refused: "+err.Error())
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	if r.ContentLength > s.MaxBodyBytes {
		refuse(w, http.StatusRequestEntityTooLarge, "callback body too large")
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusTooManyRequests, "too many callbacks at once; retry after the delay")
		return
	}

	path := protocol.PathCallbacks + "/" + id
	body, err := dispatch.ReadBody(r.Context(), []*dispatch.Budget{s.Budget}, s.BudgetWait, protocol.RequestPayload(http.MethodPost, path, nil),
		http.MaxBytesReader(w, r.Body, s.MaxBodyBytes), r.ContentLength, s.MaxBodyBytes)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, dispatch.ErrTooLarge), errors.As(err, &tooLarge):
		refuse(w, http.StatusRequestEntityTooLarge, "callback body too large")
		return
	case errors.Is(err, dispatch.ErrBudget):
		w.Header().Set("Retry-After", "5")
		refuse(w, http.StatusServiceUnavailable, "the operator is busy reading other large callbacks; retry after the delay")
		return
	case err != nil:
		refuse(w, http.StatusBadRequest, "callback body unreadable")
		return
	}
	defer body.Release()

	msgID, err := protocol.Verify(r.Header, body.Payload, now, reg.Keys...)
	if err == nil {
		err = s.replay.Check(msgID, now)
	}
	if err != nil {
		s.reject(reg.Source, id, "callback signature refused: "+err.Error())
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	st, file, err := dispatch.DecodeStatus(body.Body, id, s.Spool)
	if err != nil || !st.Status.Final() {
		s.reject(reg.Source, id, "callback is not a final JobStatus for its job")
		refuse(w, http.StatusBadRequest, "body must be a final JobStatus for this job")
		return
	}
	if !s.Dispatcher.Record(reg.Owner, dispatch.Outcome{
		JobID: id, Source: reg.Source, Op: dispatch.OpCallback, Result: dispatch.ResultFinal, Status: st, DataFile: file, At: now,
	}) {
		// The job ended (or its request was deleted) while the body was
		// read: nothing is kept, and the source stops retrying.
		refuse(w, http.StatusNotFound, "unknown job")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) reject(source types.NamespacedName, jobID, message string) {
	s.Log.Info("refused a callback", "source", source.String(), "job", jobID, "reason", message)
	if s.Rejected != nil {
		s.Rejected(source, "job "+jobID+": "+message)
	}
}

func refuse(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(protocol.Error{Error: message})
}
