package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The default export directory needs root; where it cannot be created the
// operator uses the user's state directory and says so, while a directory
// given explicitly must work or stop the start.
func TestExportDirFallsBackOnlyForTheDefault(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	unwritable := "/dev/null/exports" // below a file: cannot be created, even by root
	got, err := stateDir("export-dir", unwritable, unwritable, "exports")
	if err != nil || got != filepath.Join(state, "privacy-operator", "exports") {
		t.Errorf("default not creatable: %q, %v; want the state directory", got, err)
	}
	_, err = stateDir("export-dir", unwritable, defaultExportDir, "exports")
	if err == nil || !strings.Contains(err.Error(), "--export-dir /dev/null/exports cannot be created") {
		t.Errorf("a chosen directory that cannot be created: %v, want an error naming the flag", err)
	}
}

func TestReceiptRetentionTakesDaysOrDurations(t *testing.T) {
	var d days
	for in, want := range map[string]time.Duration{"731d": 731 * 24 * time.Hour, "17544h": 17544 * time.Hour, "0d": 0} {
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v, %v; want %s", in, time.Duration(d), err, want)
		}
	}
	for _, bad := range []string{"24m2", "-1d", "x", "1.5d"} {
		if err := d.Set(bad); err == nil || !strings.Contains(err.Error(), "want whole days such as 731d") {
			t.Errorf("%s: %v, want a refusal that shows the format", bad, err)
		}
	}
	if s := defaultReceiptRetention; s.String() != "731d" {
		t.Errorf("default %s, want 731d", s.String())
	}
	short := receiptFlags{retention: days(time.Hour)}
	if _, err := short.store(); err == nil || !strings.Contains(err.Error(), "shorter than a day") {
		t.Errorf("1h retention: %v, want a refusal", err)
	}
}

// --due-soon-share outside (0, 1] stops the start with the flag named, so
// that a 0 meant as "off" is not silently read as the default.
func TestDueSoonShareIsChecked(t *testing.T) {
	for share, ok := range map[float64]bool{0.75: true, 1: true, 0.01: true, 0: false, -0.5: false, 1.5: false} {
		err := checkFlags(flags{dueSoonShare: share})
		if ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "--due-soon-share")) {
			t.Errorf("--due-soon-share %v: %v", share, err)
		}
	}
}

// A restarted operator without leader election, like a new leader, asks
// for a retry of callbacks of jobs it has not re-registered yet.
func TestTakeOverWindowAlsoWithoutLeaderElection(t *testing.T) {
	for _, elect := range []bool{true, false} {
		if got := takeOverWindow(flags{leaderElect: elect, leaseDuration: 15 * time.Second}); got != 30*time.Second {
			t.Errorf("leader election %v: window %s, want 30s", elect, got)
		}
	}
}
