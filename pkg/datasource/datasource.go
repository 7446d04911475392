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
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
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

// ServeHTTP verifies the request's signature and serves it. The headers and
// timestamp are checked before the body is read, and the body is read
// through http.MaxBytesReader.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	// Answers are signed over the request's method, path and webhook-id,
	// which the context carries to reply.
	r = r.WithContext(context.WithValue(r.Context(), requestKey{}, requestLine{
		method: r.Method, path: r.URL.Path, id: r.Header.Get(protocol.HeaderID),
	}))
	if !protocol.ValidPath(r.URL.Path) {
		h.reply(w, r, http.StatusNotFound, protocol.Error{Error: "no such path in the job protocol"})
		return
	}
	if err := protocol.CheckHeaders(r.Header, now); err != nil {
		h.reply(w, r, http.StatusUnauthorized, protocol.Error{Error: err.Error()})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.reply(w, r, http.StatusRequestEntityTooLarge, protocol.Error{Error: "request body too large"})
			return
		}
		h.reply(w, r, http.StatusBadRequest, protocol.Error{Error: "cannot read request body"})
		return
	}
	id, err := protocol.Verify(r.Header, protocol.RequestPayload(r.Method, r.URL.Path, body), now, h.keys...)
	if err == nil {
		err = h.replay.Check(id, now)
	}
	if err != nil {
		h.reply(w, r, http.StatusUnauthorized, protocol.Error{Error: err.Error()})
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.reply(w, r, http.StatusNotFound, protocol.Error{Error: "no such path in the job protocol: " + r.Method + " " + r.URL.Path})
		return
	}
	h.mux.ServeHTTP(w, r)
}

type requestKey struct{}

// requestLine is what an answer's signature binds it to.
type requestLine struct{ method, path, id string }

// callbackClient trusts the system roots and the given CAs.
func callbackClient(caBundle []byte) (*http.Client, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	if len(caBundle) == 0 {
		return c, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caBundle) {
		return nil, errors.New("datasource: CallbackCABundle holds no PEM certificate")
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return c, nil
}

// Close cancels running asynchronous jobs and waits for them and their
// callbacks to end.
func (h *Handler) Close() {
	h.stop()
	h.wg.Wait()
}

type bodyKey struct{}

func (h *Handler) capabilities(w http.ResponseWriter, r *http.Request) {
	caps := protocol.Capabilities{
		APIVersion: protocol.APIVersion, Kind: protocol.KindCapabilities,
		Identities: h.cfg.Identities, Categories: h.cfg.Categories,
	}
	for _, t := range []protocol.JobType{protocol.JobAccess, protocol.JobDelete, protocol.JobCorrect, protocol.JobOptOut, protocol.JobPurge} {
		if h.funcs[t] != nil {
			caps.RequestTypes = append(caps.RequestTypes, t)
		}
	}
	h.reply(w, r, http.StatusOK, caps)
}

func (h *Handler) postJob(w http.ResponseWriter, r *http.Request) {
	job := &protocol.Job{}
	if err := json.Unmarshal(r.Context().Value(bodyKey{}).([]byte), job); err != nil {
		h.reply(w, r, http.StatusBadRequest, protocol.Error{Error: "body is not a JSON job"})
		return
	}
	if job.Kind != protocol.KindJob || job.ID == "" {
		h.reply(w, r, http.StatusBadRequest, protocol.Error{Error: "body must be a Job with an id"})
		return
	}
	fn := h.funcs[job.Type]
	if fn == nil {
		h.reply(w, r, http.StatusUnprocessableEntity, protocol.Error{Error: fmt.Sprintf("job type %q is not served here", job.Type)})
		return
	}
	if h.cfg.Validate != nil {
		if err := h.cfg.Validate(job); err != nil {
			h.reply(w, r, http.StatusUnprocessableEntity, protocol.Error{Error: err.Error()})
			return
		}
	}
	prior, running, err := h.cfg.Store.Begin(job.ID)
	switch {
	case err != nil:
		h.replyRetry(w, r, job.ID, storeUnavailable(err))
		return
	case prior != nil:
		h.reply(w, r, http.StatusOK, prior)
		return
	case running:
		h.reply(w, r, http.StatusConflict, protocol.JobStatus{ID: job.ID, Status: protocol.StatusRunning})
		return
	}

	if !h.cfg.Async && !slices.Contains(h.cfg.AsyncTypes, job.Type) {
		st, retry := h.run(r.Context(), fn, job, false)
		if retry != nil {
			h.replyRetry(w, r, job.ID, retry)
			return
		}
		h.reply(w, r, http.StatusOK, st)
		h.forgetAccess(job)
		return
	}

	ctx, cancel := context.WithCancel(h.ctx)
	h.mu.Lock()
	h.cancels[job.ID] = cancel
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() {
			h.mu.Lock()
			delete(h.cancels, job.ID)
			h.mu.Unlock()
			cancel()
		}()
		st, retry := h.run(ctx, fn, job, true)
		if retry != nil {
			// Forgotten: the operator's next poll gets 404 and sends the
			// job again.
			return
		}
		if h.callback(ctx, job, st) {
			h.forgetAccess(job)
		}
	}()
	h.reply(w, r, http.StatusAccepted, protocol.JobStatus{ID: job.ID, Status: protocol.StatusRunning})
}

// retryable is a failure the operator should retry; the job is forgotten.
type retryable struct {
	err   error
	after time.Duration
}

// run calls fn and records a final status, or forgets the job and returns
// the retryable failure.
func (h *Handler) run(ctx context.Context, fn JobFunc, job *protocol.Job, async bool) (*protocol.JobStatus, *retryable) {
	res, data, err := h.call(ctx, fn, job)
	st := &protocol.JobStatus{APIVersion: protocol.APIVersion, Kind: protocol.KindJobStatus, ID: job.ID}
	var perm *permanentError
	var unavail *unavailableError
	switch {
	case err == nil:
		st.Status, st.Message = protocol.StatusCompleted, res.Message
		if res.NotFound {
			st.Status = protocol.StatusNotFound
		}
		st.Result = &protocol.Result{Records: res.Records, Data: data}
	case errors.As(err, &perm):
		st.Status, st.Message = protocol.StatusFailed, perm.Error()
	case errors.As(err, &unavail):
		_ = h.cfg.Store.Forget(job.ID)
		return nil, &retryable{err: err, after: unavail.after}
	default:
		_ = h.cfg.Store.Forget(job.ID)
		h.cfg.Logger.Warn("job failed; the operator will retry", "job", job.ID, "type", job.Type, "error", err)
		return nil, &retryable{err: err}
	}
	if job.Type == protocol.JobAccess && !async {
		// Access changes nothing, so running it again is harmless; keeping
		// its answer would keep the subject's data beyond the answer. The
		// job is forgotten once answered (see forgetAccess). An async
		// Access result is kept until a callback or a poll delivered it.
		return st, nil
	}
	if err := h.cfg.Store.Finish(job.ID, *st); err != nil {
		_ = h.cfg.Store.Forget(job.ID)
		return nil, &retryable{err: fmt.Errorf("record job: %w", err)}
	}
	return st, nil
}

// call runs fn, turning a panic into a permanent failure: a job that
// panics once will panic again, and must neither stay running forever nor
// take the service down.
//
// The result's data is encoded here too, under the same recovery: a
// MarshalJSON that panics is the job function's failure as well.
func (h *Handler) call(ctx context.Context, fn JobFunc, job *protocol.Job) (res Result, data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.cfg.Logger.Error("job function panicked", "job", job.ID, "type", job.Type, "panic", fmt.Sprintf("%T", p))
			res, data, err = Result{}, nil, Permanent("the data source failed on this job (the job function panicked)")
		}
	}()
	res, err = fn(ctx, job)
	if err != nil || res.Data == nil {
		return res, nil, err
	}
	if data, err = json.Marshal(res.Data); err != nil {
		return Result{}, nil, Permanent("result data is not JSON-encodable")
	}
	return res, data, nil
}

// forgetAccess drops a finished Access job from the store once it was
// answered, so that its data is held nowhere.
func (h *Handler) forgetAccess(job *protocol.Job) {
	if job.Type == protocol.JobAccess {
		_ = h.cfg.Store.Forget(job.ID)
	}
}

// storeUnavailable is the answer to a failing Store: 503, with the
// Retry-After of an error made with Unavailable (default 1 s).
func storeUnavailable(err error) *retryable {
	r := &retryable{err: fmt.Errorf("job store unavailable: %w", err), after: time.Second}
	var unavail *unavailableError
	if errors.As(err, &unavail) && unavail.after > 0 {
		r.after = unavail.after
	}
	return r
}

func (h *Handler) replyRetry(w http.ResponseWriter, r *http.Request, id string, retry *retryable) {
	if retry.after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry.after+time.Second-1)/time.Second)))
		h.reply(w, r, http.StatusServiceUnavailable, protocol.Error{Error: retry.err.Error()})
		return
	}
	h.reply(w, r, http.StatusInternalServerError, protocol.Error{Error: retry.err.Error()})
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, running, err := h.cfg.Store.Get(id)
	switch {
	case err != nil:
		h.replyRetry(w, r, id, storeUnavailable(err))
	case st != nil:
		h.reply(w, r, http.StatusOK, st)
		if st.Result != nil && len(st.Result.Data) > 0 {
			// An async Access result: delivered now, kept no longer.
			_ = h.cfg.Store.Forget(id)
		}
	case running:
		h.reply(w, r, http.StatusAccepted, protocol.JobStatus{ID: id, Status: protocol.StatusRunning})
	default:
		h.reply(w, r, http.StatusNotFound, protocol.Error{Error: "unknown job"})
	}
}

func (h *Handler) deleteJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h.mu.Lock()
	cancel, ok := h.cancels[id]
	h.mu.Unlock()
	if ok {
		cancel()
	}
	// Signed like every answer, over an empty body.
	line, _ := r.Context().Value(requestKey{}).(requestLine)
	if _, err := protocol.Sign(w.Header(), protocol.AnswerPayload(line.method, line.path, line.id, nil), h.cfg.Now(), h.keys[0]); err != nil {
		h.cfg.Logger.Error("cannot sign answer", "error", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// callback POSTs the final status to the operator, retrying with backoff,
// and reports whether it was delivered. When every attempt fails the
// operator's poll still finds the status.
func (h *Handler) callback(ctx context.Context, job *protocol.Job, st *protocol.JobStatus) bool {
	if job.CallbackURL == "" {
		return false
	}
	body, err := json.Marshal(st)
	if err != nil {
		return false
	}
	wait := h.cfg.CallbackBackoff
	for attempt := 1; attempt <= h.cfg.CallbackAttempts; attempt++ {
		code, err := h.postCallback(ctx, job.CallbackURL, job.ID, body)
		if err == nil && code < 300 {
			return true
		}
		if err == nil && code >= 400 && code < 500 && code != http.StatusTooManyRequests {
			h.cfg.Logger.Warn("operator refused the callback", "job", job.ID, "status", code)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait *= 2
	}
	return false
}

func (h *Handler) postCallback(ctx context.Context, url, jobID string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed over the protocol path, whatever prefix the operator's
	// callback URL has.
	if _, err := protocol.SignRequest(req, protocol.PathCallbacks+"/"+jobID, body, h.cfg.Now(), h.keys[0]); err != nil {
		return 0, err
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// reply writes v as JSON, signed as the answer to r.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"cannot encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	line, _ := r.Context().Value(requestKey{}).(requestLine)
	if _, err := protocol.Sign(w.Header(), protocol.AnswerPayload(line.method, line.path, line.id, body), h.cfg.Now(), h.keys[0]); err != nil {
		h.cfg.Logger.Error("cannot sign answer", "error", err)
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
