package replay

import (
	"regexp"
	"testing"
	"time"
)

func TestCutoff(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if got := Cutoff(now, []time.Duration{35 * 24 * time.Hour, 7 * 24 * time.Hour}); !got.Equal(now.Add(-35 * 24 * time.Hour)) {
		t.Errorf("two windows: %v, want the longest's start", got)
	}
	if got := Cutoff(now, nil); !got.Equal(now) {
		t.Errorf("no window: %v, want now (nothing can be restored)", got)
	}
}

func TestReplayJobID(t *testing.T) {
	a, again, other, otherJob := ReplayJobID("pr-1", "uid-1"), ReplayJobID("pr-1", "uid-1"), ReplayJobID("pr-1", "uid-2"), ReplayJobID("pr-2", "uid-1")
	if a != again || a == other || a == otherJob || a == "pr-1" {
		t.Fatalf("ids %s %s %s %s: want stable per (job, restore) and distinct otherwise", a, again, other, otherJob)
	}
	// A job id the protocol and the replay record's name accept.
	if !regexp.MustCompile(`^[a-z0-9][-a-z0-9]{0,99}$`).MatchString(a) {
		t.Fatalf("%q is not a valid job id", a)
	}
}
