package datasource

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

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

func (h *Handler) replyRetry(w http.ResponseWriter, r *http.Request, id string, retry *retryable) {
	if retry.after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry.after+time.Second-1)/time.Second)))
		h.reply(w, r, http.StatusServiceUnavailable, protocol.Error{Error: retry.err.Error()})
		return
	}
	h.reply(w, r, http.StatusInternalServerError, protocol.Error{Error: retry.err.Error()})
}
