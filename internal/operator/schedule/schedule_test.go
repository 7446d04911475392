package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseNext(t *testing.T) {
	from := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		expr, tz string
		want     time.Time
	}{
		{"0 3 * * *", "", time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)},
		{"0 3 * * *", "Europe/Berlin", time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)},
		{"0 3 * * *", "America/New_York", time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
		{"@daily", "", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{"30 2 * * SUN", "", time.Date(2026, 12, 6, 2, 30, 0, 0, time.UTC)},
		{"*/15 * * * *", "", time.Date(2026, 11, 29, 12, 15, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		sched, err := Parse(tt.expr, tt.tz)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v", tt.expr, tt.tz, err)
		}
		if got := sched.Next(from); !got.Equal(tt.want) {
			t.Errorf("Parse(%q, %q).Next = %s, want %s", tt.expr, tt.tz, got.UTC(), tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, tz, want string }{
		{"0 25 * * *", "", "invalid schedule"},
		{"0 0 3 * * *", "", "invalid schedule"},
		{"every night", "", "invalid schedule"},
		{"0 3 * * *", "Mars/Olympus_Mons", `unknown time zone "Mars/Olympus_Mons"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr, tt.tz)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q) error = %v, want one containing %q", tt.expr, tt.tz, err, tt.want)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	day := 24 * time.Hour
	good := map[string]time.Duration{
		"35d":      35 * day,
		"400d":     400 * day,
		"12h":      12 * time.Hour,
		"1d12h":    36 * time.Hour,
		"90m":      90 * time.Minute,
		"1d0h":     day,
		"36500d":   36500 * day,
		"1h30m15s": time.Hour + 30*time.Minute + 15*time.Second,
	}
	for in, want := range good {
		got, err := ParsePeriod(in)
		if err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "0d0h", "-35d", "35 days", "12h1d", "1y", "99999999999999999999d", "36501d"} {
		if got, err := ParsePeriod(in); err == nil {
			t.Errorf("ParsePeriod(%q) = %s, want an error", in, got)
		}
	}
}

func TestLatestSlotCollapsesMissedSlots(t *testing.T) {
	sched, _ := Parse("0 3 * * *", "UTC")
	after := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	slot, ok := LatestSlot(sched, after, now)
	if !ok || !slot.Equal(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("LatestSlot = %s %v, want only the latest of nine missed slots", slot, ok)
	}
	if _, ok := LatestSlot(sched, slot, now); ok {
		t.Error("a slot already run is due again")
	}
}

func TestSlotsAcrossDST(t *testing.T) {
	// Europe/Berlin leaves summer time on 2026-10-25 at 03:00 (back to 02:00).
	sched, err := Parse("30 2 * * *", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	got := []time.Time{}
	t0 := time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC)
	for range 4 {
		t0 = sched.Next(t0)
		got = append(got, t0.UTC())
	}
	// 02:30 happens twice on the night of the change, and the parser (like
	// batch/v1 CronJob, which uses it too) runs both: a purge is idempotent,
	// so the extra run only repeats work.
	want := []time.Time{
		time.Date(2026, 10, 24, 0, 30, 0, 0, time.UTC), // 02:30 CEST (UTC+2)
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), // 02:30 CEST, before the change
		time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), // 02:30 CET, after it
		time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC), // 02:30 CET (UTC+1)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("slot %d = %s, want %s", i, got[i], want[i])
		}
	}
	// Spring forward: 2027-03-28 02:30 does not exist in Berlin.
	t1 := time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC)
	next := sched.Next(t1)
	if next.Before(time.Date(2027, 3, 28, 0, 0, 0, 0, time.UTC)) || next.After(time.Date(2027, 3, 29, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("slot across the spring change = %s", next.UTC())
	}
}
