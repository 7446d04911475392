package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Every replica serves callbacks; only the leader holds the dispatcher's
// state (which job belongs to whom, with which keys). A follower checks
// what it can without that state (the signature headers are there and
// fresh, the body is not too large) and forwards the callback, unread, to
// the leader, which verifies and records it. The leader publishes its
// listener's URL in a Lease of its own (LeaderURL); a forwarded callback
// is marked so that it is never forwarded twice.

// HeaderForwarded marks a callback forwarded by a follower.
const HeaderForwarded = "Privacy-Operator-Forwarded"

// AnnotationCallbackURL holds the leader's listener URL on its Lease.
const AnnotationCallbackURL = "privacyoperator.io/callback-url"

// LeaderURL publishes the leader's listener URL and tells followers where
// it is. Create it with the fields set; add it to the manager (it runs on
// the leader only) and give Lookup to the followers' Forwarder.
type LeaderURL struct {
	// Client writes the Lease; Reader reads it uncached.
	Client client.Client
	Reader client.Reader
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity names this replica in the Lease.
	Identity string
	// URL is this replica's listener as the other replicas reach it
	// (its pod IP); empty: followers cannot forward to it.
	URL string
	// TTL is how long a looked-up URL is trusted; default 2 s.
	TTL time.Duration
	// RetryPeriod is the wait between attempts to publish; default 1 s.
	RetryPeriod time.Duration
	// RepublishPeriod is how often the leader writes its URL again, so
	// that anything else that wrote the Lease (an operator started by
	// hand against the same cluster) is corrected; default 30 s.
	RepublishPeriod time.Duration

	mu       sync.Mutex
	cached   string
	cachedAt time.Time
}

// Start publishes this replica's URL once it leads, retrying until it is
// stored, then waits for ctx to end. It implements manager.Runnable.
func (l *LeaderURL) Start(ctx context.Context) error {
	retry := l.RetryPeriod
	if retry <= 0 {
		retry = time.Second
	}
	every := l.RepublishPeriod
	if every <= 0 {
		every = 30 * time.Second
	}
	for {
		wait := every
		if l.publish(ctx) != nil {
			wait = retry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// NeedLeaderElection: only the leader publishes.
func (l *LeaderURL) NeedLeaderElection() bool { return true }

func (l *LeaderURL) publish(ctx context.Context) error {
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{}
	err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Name}, lease)
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: l.Name,
			Labels: map[string]string{"app.kubernetes.io/name": "privacy-operator"}}}
		l.fill(lease, now)
		return l.Client.Create(ctx, lease)
	case err != nil:
		return err
	}
	if lease.Annotations[AnnotationCallbackURL] == l.URL && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity == l.Identity {
		return nil // as published: no write
	}
	l.fill(lease, now)
	return l.Client.Update(ctx, lease)
}

func (l *LeaderURL) fill(lease *coordinationv1.Lease, now metav1.MicroTime) {
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[AnnotationCallbackURL] = l.URL
	id := l.Identity
	lease.Spec.HolderIdentity = &id
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
}

// LeadingSince records when this replica began to lead. Add it to the
// manager; Within tells the listener whether that was less than a given
// time ago.
type LeadingSince struct {
	since atomic.Int64
}

// Start records the time; it runs once this replica leads.
func (l *LeadingSince) Start(ctx context.Context) error {
	l.since.Store(time.Now().UnixNano())
	<-ctx.Done()
	return nil
}

// NeedLeaderElection: it starts when this replica is elected.
func (l *LeadingSince) NeedLeaderElection() bool { return true }

// Within reports whether this replica began to lead less than d ago. It
// is asked only while the replica leads: before Start has stored the time
// (the election is moments old) it is true.
func (l *LeadingSince) Within(d time.Duration) bool {
	since := l.since.Load()
	return since == 0 || time.Since(time.Unix(0, since)) < d
}

// ErrNoLeader says that no leader has published a URL yet.
var ErrNoLeader = errors.New("no leader has published its callback listener yet")

// Lookup returns the leader's listener URL, read at most every TTL.
func (l *LeaderURL) Lookup(ctx context.Context) (string, error) {
	ttl := l.TTL
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	l.mu.Lock()
	if l.cached != "" && time.Since(l.cachedAt) < ttl {
		defer l.mu.Unlock()
		return l.cached, nil
	}
	l.mu.Unlock()
	lease := &coordinationv1.Lease{}
	if err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Name}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return "", ErrNoLeader
		}
		return "", fmt.Errorf("read the callback leader Lease: %w", err)
	}
	u := lease.Annotations[AnnotationCallbackURL]
	if u == "" {
		return "", ErrNoLeader
	}
	l.mu.Lock()
	l.cached, l.cachedAt = u, time.Now()
	l.mu.Unlock()
	return u, nil
}

// Forget drops the cached URL (the leader it named did not answer).
func (l *LeaderURL) Forget() {
	l.mu.Lock()
	l.cached = ""
	l.mu.Unlock()
}

// Forwarder hands a follower's callbacks to the leader.
type Forwarder struct {
	// Leader returns the leader's listener URL.
	Leader func(context.Context) (string, error)
	// Unreachable is told when the leader did not answer (drop a cache).
	Unreachable func()
	// Transport reaches the leader (TLS trusting the listener's CA).
	Transport http.RoundTripper
	// Scheme is what the listeners serve (http or https); a published URL
	// with another scheme is not used.
	Scheme string
}

// forward proxies r to the leader, or answers 503 with Retry-After when
// there is none to reach: the source retries, and meanwhile a new leader
// takes over.
func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request) {
	leader, err := f.Leader(r.Context())
	var target *url.URL
	if err == nil {
		target, err = f.checkLeaderURL(leader)
	}
	if err != nil {
		unavailable(w, "no leader to take the callback yet; retry after the delay")
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(HeaderForwarded, "true")
		},
		Transport: f.Transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				refuse(w, http.StatusRequestEntityTooLarge, "callback body too large")
				return
			}
			var dial *net.OpError
			if f.Unreachable != nil && errors.As(err, &dial) && dial.Op == "dial" {
				f.Unreachable() // look the leader up again; not for a client that went away
			}
			unavailable(w, "the leader did not answer; retry after the delay")
		},
	}
	proxy.ServeHTTP(w, r)
}

// checkLeaderURL accepts only what a leader publishes: the scheme this
// listener serves, a host and port, nothing else (no credentials, path or
// query), and never a link-local address (cloud metadata). Whoever may
// write the Lease cannot send callbacks anywhere else.
func (f *Forwarder) checkLeaderURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if f.Scheme != "" && u.Scheme != f.Scheme || u.User != nil || u.Port() == "" ||
		u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("leader URL %q is not %s://host:port", raw, f.Scheme)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()) {
		return nil, fmt.Errorf("leader URL %q names a link-local or unspecified address", raw)
	}
	u.Path = ""
	return u, nil
}

func unavailable(w http.ResponseWriter, message string) {
	w.Header().Set("Retry-After", "1")
	refuse(w, http.StatusServiceUnavailable, message)
}
