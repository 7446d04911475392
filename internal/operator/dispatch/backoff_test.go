package dispatch

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	initial, max := 10*time.Second, 10*time.Minute
	for attempt, base := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 7: 640 * time.Second, 20: 10 * time.Minute} {
		want := min(base, max)
		for range 50 {
			got := Backoff(attempt, initial, max)
			if got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	if got := RetryAfter(h, now); got != 0 {
		t.Errorf("absent: %s", got)
	}
	h.Set("Retry-After", "120")
	if got := RetryAfter(h, now); got != 2*time.Minute {
		t.Errorf("seconds: %s", got)
	}
	h.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
	if got := RetryAfter(h, now); got != 90*time.Second {
		t.Errorf("date: %s", got)
	}
	h.Set("Retry-After", "soon")
	if got := RetryAfter(h, now); got != 0 {
		t.Errorf("garbage: %s", got)
	}
}
