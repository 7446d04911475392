package datasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
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
