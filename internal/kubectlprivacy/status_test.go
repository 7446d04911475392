package kubectlprivacy

import (
	"testing"
	"time"
)

func TestDueIn(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		due  time.Duration
		want string
	}{
		{12*24*time.Hour + time.Hour, "due in 12 days"},
		{24 * time.Hour, "due in 1 day"},
		{time.Hour, "due in less than a day"},
		{-time.Hour, "overdue by less than a day"},
		{-3*24*time.Hour - time.Minute, "overdue by 3 days"},
	} {
		if got := dueIn(now.Add(c.due), now); got != c.want {
			t.Errorf("%v: %q, want %q", c.due, got, c.want)
		}
	}
}

func TestPainter(t *testing.T) {
	on := painter(true)
	for phase, code := range map[string]string{"Completed": green, "NotFound": green, "Failed": red, "Pending": yellow, "Dispatched": yellow, "Held": magenta} {
		if got, want := on(phase), "\x1b["+code+"m"+phase+"\x1b[0m"; got != want {
			t.Errorf("%s: %q, want %q", phase, got, want)
		}
	}
	if got := painter(false)("Failed"); got != "Failed" {
		t.Errorf("plain: %q", got)
	}
}
