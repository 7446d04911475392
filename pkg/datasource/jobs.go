package datasource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

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

	h.runAsync(fn, job)
	h.reply(w, r, http.StatusAccepted, protocol.JobStatus{ID: job.ID, Status: protocol.StatusRunning})
}

// runAsync runs job in the background until it ends or Close cancels it,
// then delivers its status by callback.
func (h *Handler) runAsync(fn JobFunc, job *protocol.Job) {
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
	var refused *refusedError
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
	case errors.As(err, &refused) && refused.exemption != "" && len(refused.exemption) <= protocol.MaxExemption:
		st.Status, st.Message, st.Exemption = protocol.StatusRefused, refused.msg, refused.exemption
	case errors.As(err, &refused):
		st.Status = protocol.StatusFailed
		st.Message = fmt.Sprintf("the data source refused the job without a valid exemption (1 to %d bytes)", protocol.MaxExemption)
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
