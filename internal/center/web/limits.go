package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
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
	clients    *lru.Cache[string, *rate.Limiter]
	identities *lru.Cache[string, *rate.Limiter]
	mu         sync.Mutex
	wrongCodes *lru.Cache[string, int]
}

func newLimits(l Limits) *limits {
	c, _ := lru.New[string, *rate.Limiter](l.Tracked)
	i, _ := lru.New[string, *rate.Limiter](l.Tracked)
	w, _ := lru.New[string, int](l.Tracked)
	return &limits{l: l, clients: c, identities: i, wrongCodes: w}
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
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return allow(l.clients, host, time.Minute/time.Duration(l.l.PerClient), l.l.PerClient)
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
