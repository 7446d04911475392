package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Limits bound what one client or one person can ask of the center. Their
// memory is bounded: each table keeps at most Tracked entries (the least
// recently seen go first).
type Limits struct {
	// PerClient: submissions and verifications per minute from one client
	// address, with a burst of as many.
	PerClient int
	// PerIdentity: verification mails per hour to one e-mail address.
	PerIdentity int
	// CodeAttempts: wrong codes before a submission's code is locked.
	CodeAttempts int
	// Tracked bounds each table.
	Tracked int
}

// DefaultLimits: 20 a minute per client, 5 mails an hour per address, 5
// wrong codes, 100,000 entries per table.
func DefaultLimits() Limits {
	return Limits{PerClient: 20, PerIdentity: 5, CodeAttempts: 5, Tracked: 100_000}
}

type limits struct {
	l          Limits
	trusted    []netip.Prefix
	clients    *lru.Cache[string, *rate.Limiter]
	identities *lru.Cache[string, *rate.Limiter]
	mu         sync.Mutex
	wrongCodes *lru.Cache[string, int]
	guesses    *lru.Cache[string, *rate.Limiter]
}

// guessesPerHour bounds the wrong download codes for one request, across
// the fresh codes asked for it.
const guessesPerHour = 10

// guess counts a wrong code against key (a request) and reports whether
// it was within guessesPerHour; the bound refills over the hour.
func (l *limits) guess(key string) bool {
	return allow(l.guesses, key, time.Hour/guessesPerHour, guessesPerHour)
}

func newLimits(l Limits, trustedProxies []string) *limits {
	c, _ := lru.New[string, *rate.Limiter](l.Tracked)
	i, _ := lru.New[string, *rate.Limiter](l.Tracked)
	w, _ := lru.New[string, int](l.Tracked)
	g, _ := lru.New[string, *rate.Limiter](l.Tracked)
	lim := &limits{l: l, clients: c, identities: i, wrongCodes: w, guesses: g}
	for _, cidr := range trustedProxies {
		if p, err := netip.ParsePrefix(cidr); err == nil {
			lim.trusted = append(lim.trusted, p)
		}
	}
	return lim
}

func allow(c *lru.Cache[string, *rate.Limiter], key string, every time.Duration, burst int) bool {
	lim, ok := c.Get(key)
	if !ok {
		lim = rate.NewLimiter(rate.Every(every), burst)
		c.Add(key, lim)
	}
	return lim.Allow()
}

// client reports whether r's client may go on.
func (l *limits) client(r *http.Request) bool {
	return allow(l.clients, l.clientAddr(r), time.Minute/time.Duration(l.l.PerClient), l.l.PerClient)
}

// clientAddr is the client's address: the peer's, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For address that is not one
// (the addresses left of it could have been written by the client).
func (l *limits) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !l.isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !l.isTrusted(hop) {
			return hop
		}
	}
	return host
}

func (l *limits) isTrusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range l.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// identity reports whether another verification mail may go to email. The
// table keys on a hash: the center holds no address in memory longer than
// a request.
func (l *limits) identity(email string) bool {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return allow(l.identities, hex.EncodeToString(sum[:16]), time.Hour/time.Duration(l.l.PerIdentity), l.l.PerIdentity)
}

// locked reports whether the submission id has had too many wrong codes.
func (l *limits) locked(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, _ := l.wrongCodes.Get(id)
	return n >= l.l.CodeAttempts
}

// wrongCode counts a wrong code for id and reports whether it is now locked.
func (l *limits) wrongCode(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, _ := l.wrongCodes.Get(id)
	l.wrongCodes.Add(id, n+1)
	return n+1 >= l.l.CodeAttempts
}
