package dispatch

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff returns the wait before retry number attempt (1 for the first
// retry): initial doubled per attempt, capped at max, with "equal jitter"
// (half fixed, half random) so that many jobs failing together do not retry
// in lockstep.
func Backoff(attempt int, initial, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := initial
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date) relative
// to now; zero when absent or unparsable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
