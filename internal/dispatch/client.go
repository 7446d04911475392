package dispatch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/netguard"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// MaxResponseBytes bounds an answer (an Access result included); a
	// larger answer fails the source's job.
	MaxResponseBytes int64
	// CallbackURL returns the URL a source POSTs a job's final status to;
	// nil sends no callbackURL, so async jobs are polled.
	CallbackURL func(jobID string) string
	// Dialer dials the connections. Default: a net.Dialer with a 10 s timeout.
	Dialer *net.Dialer
	// Guard refuses forbidden endpoint addresses, in the dialer (after DNS
	// resolution) and on the URL. Nil allows every address.
	Guard *netguard.Guard
	// Now tells the time, for signatures.
	Now func() time.Time
}

// Client runs exchanges over HTTP(S). It follows no redirect and verifies
// TLS always (with the target's CA bundle when it has one).
type Client struct {
	opts    ClientOptions
	mu      sync.Mutex
	clients map[[32]byte]*http.Client
}

// NewClient returns a Client.
func NewClient(opts ClientOptions) *Client {
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 16 << 20
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	}
	if opts.Guard != nil {
		opts.Dialer = opts.Guard.Dialer(opts.Dialer)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{opts: opts, clients: map[[32]byte]*http.Client{}}
}

// httpClient returns the client for a CA bundle, one per distinct bundle so
// that connections are reused.
func (c *Client) httpClient(caBundle []byte) (*http.Client, error) {
	sum := sha256.Sum256(caBundle)
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.clients[sum]; ok {
		return hc, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("caBundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	hc := &http.Client{
		Transport: &http.Transport{
			DialContext:         c.opts.Dialer.DialContext,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.clients[sum] = hc
	return hc, nil
}

// Exchange runs one exchange and classifies its outcome.
func (c *Client) Exchange(ctx context.Context, w Work) Outcome {
	start := time.Now()
	o := c.exchange(ctx, w)
	o.Latency = time.Since(start)
	return o
}

func (c *Client) exchange(ctx context.Context, w Work) Outcome {
	ctx, cancel := context.WithTimeout(ctx, max(w.Target.Timeout, time.Second))
	defer cancel()
	var (
		method, path string
		body         []byte
	)
	switch w.Op {
	case OpDeliver:
		job := *w.Job
		if c.opts.CallbackURL != nil {
			job.CallbackURL = c.opts.CallbackURL(w.JobID)
		}
		var err error
		if body, err = json.Marshal(job); err != nil {
			return Outcome{Result: ResultPermanent, Message: "cannot encode job"}
		}
		method, path = http.MethodPost, protocol.PathJobs
	case OpPoll:
		method, path = http.MethodGet, protocol.PathJobs+"/"+url.PathEscape(w.JobID)
	case OpCancel:
		method, path = http.MethodDelete, protocol.PathJobs+"/"+url.PathEscape(w.JobID)
	case OpProbe:
		method, path = http.MethodGet, protocol.PathCapabilities
	}

	code, header, answer, err := c.roundTrip(ctx, w.Target, method, path, body)
	if w.Op == OpCancel {
		return Outcome{Result: ResultCancelled}
	}
	if err != nil {
		reason, msg := describe(err)
		if reason == ReasonNotAllowed && w.Op != OpProbe {
			return Outcome{Result: ResultPermanent, Reason: reason, Message: msg}
		}
		return Outcome{Result: ResultRetry, Reason: reason, Message: msg}
	}
	if int64(len(answer)) > c.opts.MaxResponseBytes {
		return Outcome{Result: ResultPermanent, Reason: ReasonTooLarge, Message: fmt.Sprintf("answer exceeds the limit of %d bytes", c.opts.MaxResponseBytes)}
	}
	if _, err := protocol.Verify(header, answer, c.opts.Now(), w.Target.Keys...); err != nil {
		return Outcome{Result: ResultRetry, Reason: ReasonSignatureMismatch, Message: "answer is not signed with the shared secret: " + err.Error()}
	}
	if w.Op == OpProbe {
		return classifyProbe(code, answer)
	}
	return classify(w, code, header, answer, c.opts.Now())
}

// classifyProbe reads a capabilities answer.
func classifyProbe(code int, answer []byte) Outcome {
	if code != http.StatusOK {
		return Outcome{Result: ResultRetry, Reason: ReasonUnreachable, Message: fmt.Sprintf("capabilities answered %d: %s", code, errorText(answer))}
	}
	caps := &protocol.Capabilities{}
	if err := json.Unmarshal(answer, caps); err != nil {
		return Outcome{Result: ResultRetry, Reason: ReasonUnreachable, Message: "capabilities answer is not a Capabilities document"}
	}
	return Outcome{Result: ResultFinal, Capabilities: caps}
}

func classify(w Work, code int, header http.Header, answer []byte, now time.Time) Outcome {
	switch {
	case code == http.StatusOK:
		st := &protocol.JobStatus{}
		if err := json.Unmarshal(answer, st); err != nil || st.ID != w.JobID {
			return Outcome{Result: ResultRetry, Message: "answer is not a JobStatus for this job"}
		}
		if st.Status.Final() {
			return Outcome{Result: ResultFinal, Status: st}
		}
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
		return Outcome{Result: ResultAccepted}
	case code == http.StatusAccepted:
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
		return Outcome{Result: ResultAccepted}
	case code == http.StatusConflict && w.Op == OpDeliver:
		return Outcome{Result: ResultAccepted}
	case code == http.StatusNotFound && w.Op == OpPoll:
		return Outcome{Result: ResultUnknown}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return Outcome{Result: ResultRetry, RetryAfter: RetryAfter(header, now), Message: fmt.Sprintf("source answered %d: %s", code, errorText(answer))}
	case code >= 400 && code < 500:
		return Outcome{Result: ResultPermanent, Message: fmt.Sprintf("source refused the job (%d): %s", code, errorText(answer))}
	default:
		return Outcome{Result: ResultRetry, Message: fmt.Sprintf("source answered %d: %s", code, errorText(answer))}
	}
}

// roundTrip sends one signed request and reads at most MaxResponseBytes+1
// bytes of the answer.
func (c *Client) roundTrip(ctx context.Context, t Target, method, path string, body []byte) (int, http.Header, []byte, error) {
	if len(t.Keys) == 0 {
		return 0, nil, nil, errors.New("no signing key")
	}
	hc, err := c.httpClient(t.CABundle)
	if err != nil {
		return 0, nil, nil, tlsError{err}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(t.BaseURL, "/")+path, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	if c.opts.Guard != nil {
		if err := c.opts.Guard.CheckURL(req.URL); err != nil {
			return 0, nil, nil, err
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := protocol.SignRequest(req, body, c.opts.Now(), t.Keys...); err != nil {
		return 0, nil, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// errorText is the error message of a protocol.Error body, shortened.
func errorText(answer []byte) string {
	e := protocol.Error{}
	msg := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 256 {
		msg = msg[:256] + "..."
	}
	if msg == "" {
		msg = "(no message)"
	}
	return msg
}

// Failure reasons of an exchange, named as the DataSource Ready reasons.
const (
	ReasonNotAllowed        = "EndpointNotAllowed"
	ReasonTLS               = "TLSError"
	ReasonUnreachable       = "EndpointUnreachable"
	ReasonSignatureMismatch = "SignatureMismatch"
	ReasonTooLarge          = "ResultTooLarge"
)

type tlsError struct{ error }

// describe turns a transport error into a reason and a short message for people.
func describe(err error) (string, string) {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var tErr tlsError
	switch {
	case errors.Is(err, netguard.ErrNotAllowed):
		return ReasonNotAllowed, err.Error()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return ReasonUnreachable, "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonUnreachable, "connection refused"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recordErr), errors.As(err, &tErr):
		return ReasonTLS, "TLS verification failed: " + err.Error()
	default:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return ReasonUnreachable, "timed out"
		}
		return ReasonUnreachable, err.Error()
	}
}
