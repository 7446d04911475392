package datasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

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
		code, after, err := h.postCallback(ctx, job.CallbackURL, job.ID, body)
		if err == nil && code < 300 {
			return true
		}
		if err == nil && code >= 400 && code < 500 && code != http.StatusTooManyRequests {
			h.cfg.Logger.Warn("operator refused the callback", "job", job.ID, "status", code)
			return false
		}
		if attempt == h.cfg.CallbackAttempts {
			break // no sleep after the last attempt
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(wait, after)):
		}
		wait *= 2
	}
	return false
}

// postCallback sends the callback once; after is the operator's
// Retry-After (429, 503), zero when it gave none.
func (h *Handler) postCallback(ctx context.Context, url, jobID string, body []byte) (code int, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed over the protocol path, whatever prefix the operator's
	// callback URL has.
	if _, err := protocol.SignRequest(req, protocol.PathCallbacks+"/"+jobID, body, h.cfg.Now(), h.keys[0]); err != nil {
		return 0, 0, err
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = min(time.Duration(secs)*time.Second, time.Minute)
	}
	return resp.StatusCode, after, nil
}

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
