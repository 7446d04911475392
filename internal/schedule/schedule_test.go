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
