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
	"strings"
	"sync"
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
