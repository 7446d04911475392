package dispatch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/endpoint"
	"github.com/privacyoperator/privacy-operator/internal/operator/netguard"
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
	// Budget bounds the answer bytes held in memory across all exchanges;
	// nil: no bound beyond MaxResponseBytes per answer.
	Budget *Budget
	// Spool receives verified Access data, so that it does not wait in
	// memory for the reconciler; nil keeps it in the outcome.
	Spool Spool
	// Log receives the details of transport failures at debug level; the
	// outcome's message stays coarse, so that probe messages in status do
	// not make the operator a port scanner of other hosts.
	Log logr.Logger
}

// Client runs exchanges over HTTP(S). It follows no redirect and verifies
// TLS always (with the target's CA bundle when it has one).
type Client struct {
	opts    ClientOptions
	mu      sync.Mutex
	clients map[[32]byte]*http.Client
	// perSource bounds the answer bytes one source holds in memory, so
	// that a source that stalls in the middle of large answers cannot take
	// the whole shared budget from the others.
	perSource map[types.NamespacedName]*Budget
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
	return &Client{opts: opts, clients: map[[32]byte]*http.Client{}, perSource: map[types.NamespacedName]*Budget{}}
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

// sourceBudget is the memory share of one source: one largest answer
// while its buffer grows (1.5 times the limit), whatever its
// maxConcurrency, so that the rest of the shared budget stays for others.
func (c *Client) sourceBudget(src types.NamespacedName) *Budget {
	if c.opts.Budget == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.perSource[src]
	if b == nil {
		b = NewBudget(c.opts.MaxResponseBytes + c.opts.MaxResponseBytes/2 + (1 << 20))
		c.perSource[src] = b
	}
	return b
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
		method string
		elems  []string
		body   []byte
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
		method, elems = http.MethodPost, []string{"jobs"}
	case OpPoll:
		method, elems = http.MethodGet, []string{"jobs", w.JobID}
	case OpCancel:
		method, elems = http.MethodDelete, []string{"jobs", w.JobID}
	case OpProbe:
		method, elems = http.MethodGet, []string{"capabilities"}
	}
	path := "/" + strings.Join(elems, "/")

	ans, err := c.roundTrip(ctx, w, method, elems, body)
	if w.Op == OpCancel {
		if ans != nil {
			ans.body.Release()
		}
		return Outcome{Result: ResultCancelled}
	}
	if err != nil {
		reason, msg := c.describe(w, err)
		if reason == privacyv1alpha1.ReasonEndpointNotAllowed && w.Op != OpProbe {
			return Outcome{Result: ResultPermanent, Reason: reason, Message: msg}
		}
		if errors.Is(err, ErrTooLarge) {
			return Outcome{Result: ResultPermanent, Reason: privacyv1alpha1.ReasonResultTooLarge, Message: fmt.Sprintf("answer exceeds the limit of %d bytes", c.opts.MaxResponseBytes)}
		}
		return Outcome{Result: ResultRetry, Reason: reason, Message: msg}
	}
	defer ans.body.Release()
	answer := ans.body.Body
	if _, err := protocol.Verify(ans.header, ans.body.Payload, c.opts.Now(), w.Target.Keys...); err != nil {
		return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonSignatureMismatch, Message: unsignedMessage(w, method, path, ans.code, err)}
	}
	if w.Op == OpProbe {
		return classifyProbe(ans.code, answer)
	}
	return classify(w, ans.code, ans.header, answer, c.opts.Now(), c.opts.Spool)
}

// unsignedMessage names exactly what was wrong with an answer's signature:
// an implementer reads it in the DataSource's Ready condition or the
// request's source status.
func unsignedMessage(w Work, method, path string, code int, err error) string {
	what := "the answer to " + method + " " + path
	if w.JobID != "" && w.Op != OpProbe {
		what = fmt.Sprintf("the answer to job %s (%s %s)", w.JobID, method, path)
	}
	switch {
	case errors.Is(err, protocol.ErrMissingHeaders):
		return fmt.Sprintf("%s (HTTP %d) was not signed: every answer, errors such as 422 and 503 included, needs webhook-id, webhook-timestamp and webhook-signature", what, code)
	case errors.Is(err, protocol.ErrStale), errors.Is(err, protocol.ErrBadTimestamp):
		return fmt.Sprintf("%s (HTTP %d) has a webhook-timestamp more than 5 minutes from the operator's clock", what, code)
	default:
		return fmt.Sprintf("%s (HTTP %d) has no signature that matches the signing secret over %q + the request's webhook-id + the body (see docs/protocol.md, Signing)", what, code, method+" "+path)
	}
}

// classifyProbe reads a capabilities answer. A document without the
// requestTypes field is named as such: it is the mistake implementers make.
func classifyProbe(code int, answer []byte) Outcome {
	if code != http.StatusOK {
		return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonEndpointUnreachable, Message: fmt.Sprintf("capabilities answered %d: %s", code, errorText(answer))}
	}
	fields := map[string]json.RawMessage{}
	caps := &protocol.Capabilities{}
	if err := json.Unmarshal(answer, &fields); err != nil || json.Unmarshal(answer, caps) != nil {
		return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonCapabilitiesMismatch, Message: "capabilities answer is not a JSON Capabilities document"}
	}
	for _, field := range []string{"requestTypes", "identities"} {
		if _, ok := fields[field]; !ok {
			return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonCapabilitiesMismatch,
				Message: fmt.Sprintf("capabilities answer has no %q field (found: %s)", field, strings.Join(sortedKeys(fields), ", "))}
		}
	}
	return Outcome{Result: ResultFinal, Capabilities: caps}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func classify(w Work, code int, header http.Header, answer []byte, now time.Time, spool Spool) Outcome {
	switch {
	case code == http.StatusOK:
		st, file, err := DecodeStatus(answer, w.JobID, spool)
		if err != nil {
			return Outcome{Result: ResultRetry, Message: fmt.Sprintf("the 200 answer to job %s is not a JobStatus with that id", w.JobID)}
		}
		if st.Status.Final() {
			return Outcome{Result: ResultFinal, Status: st, DataFile: file}
		}
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
		return Outcome{Result: ResultAccepted}
	case code == http.StatusAccepted || (code == http.StatusConflict && w.Op == OpDeliver):
		if id, ok := answerJobID(answer); ok && id != w.JobID {
			return Outcome{Result: ResultRetry, Message: fmt.Sprintf("the %d answer to job %s names job %s", code, w.JobID, id)}
		}
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
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

// answerJobID is the id of a JobStatus body, when the body is one.
func answerJobID(answer []byte) (string, bool) {
	var st struct {
		ID *string `json:"id"`
	}
	if len(answer) == 0 || json.Unmarshal(answer, &st) != nil || st.ID == nil {
		return "", false
	}
	return *st.ID, true
}

type answer struct {
	code   int
	header http.Header
	body   *Body
}

// roundTrip sends one signed request and reads at most MaxResponseBytes of
// the answer, under the budget, ready to verify against the request's
// webhook-id.
func (c *Client) roundTrip(ctx context.Context, w Work, method string, elems []string, body []byte) (*answer, error) {
	t := w.Target
	if len(t.Keys) == 0 {
		return nil, errors.New("no signing key")
	}
	hc, err := c.httpClient(t.CABundle)
	if err != nil {
		return nil, tlsError{err}
	}
	target, err := endpoint.JoinPath(t.BaseURL, elems...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", netguard.ErrNotAllowed, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, err
	}
	if c.opts.Guard != nil {
		if err := c.opts.Guard.CheckURL(req.URL); err != nil {
			return nil, err
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	path := "/" + strings.Join(elems, "/")
	reqID, err := protocol.SignRequest(req, path, body, c.opts.Now(), t.Keys...)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := protocol.CheckHeaders(resp.Header, c.opts.Now()); err != nil {
		// Unsigned (or stale): its body is not read, so it costs no memory;
		// Verify reports the same error to the caller.
		return &answer{code: resp.StatusCode, header: resp.Header, body: &Body{}}, nil
	}
	b, err := ReadBody(ctx, []*Budget{c.sourceBudget(w.Target.Source), c.opts.Budget}, 0,
		protocol.AnswerPayload(method, path, reqID, nil), resp.Body, resp.ContentLength, c.opts.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	return &answer{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errorText is the error message of a protocol.Error body, shortened. A
// body whose error is not a string (such as {"error": {"message": ...}}) is
// shown as it is, with a note on the documented form.
func errorText(answer []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	msg := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &e) == nil && len(e.Error) > 0 {
		var text string
		if json.Unmarshal(e.Error, &text) == nil {
			msg = text
		} else {
			msg = `(the error body should be {"error": "text"}, with a string) ` + msg
		}
	}
	if len(msg) > 256 {
		msg = msg[:256] + "..."
	}
	if msg == "" {
		msg = "(no message)"
	}
	return msg
}

type tlsError struct{ error }

// describe turns a transport error into a reason and a coarse message for
// status; the details go to the debug log only, so that the messages a
// DataSource's author reads cannot map ports of hosts the operator reaches.
func (c *Client) describe(w Work, err error) (string, string) {
	reason, msg := classifyTransport(err)
	c.opts.Log.V(1).Info("exchange failed", "source", w.Target.Source.String(), "op", string(w.Op), "job", w.JobID, "reason", reason, "error", err.Error())
	return reason, msg
}

func classifyTransport(err error) (string, string) {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var tErr tlsError
	switch {
	case errors.Is(err, netguard.ErrNotAllowed):
		return privacyv1alpha1.ReasonEndpointNotAllowed, err.Error()
	case errors.Is(err, ErrBudget):
		return privacyv1alpha1.ReasonEndpointUnreachable, "the operator is busy reading other large answers"
	case errors.Is(err, ErrTooLarge):
		return privacyv1alpha1.ReasonResultTooLarge, "answer too large"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return privacyv1alpha1.ReasonEndpointUnreachable, "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return privacyv1alpha1.ReasonEndpointUnreachable, "connection refused"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recordErr), errors.As(err, &tErr):
		return privacyv1alpha1.ReasonTLSError, "TLS verification failed (check spec.endpoint.caBundle and the certificate's names)"
	default:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return privacyv1alpha1.ReasonEndpointUnreachable, "timed out"
		}
		return privacyv1alpha1.ReasonEndpointUnreachable, "could not complete an HTTP exchange with the endpoint"
	}
}
