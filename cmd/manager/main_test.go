package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The default export directory needs root; where it cannot be created the
// operator uses the user's state directory and says so, while a directory
// given explicitly must work or stop the start.
func TestExportDirFallsBackOnlyForTheDefault(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	unwritable := "/dev/null/exports" // below a file: cannot be created, even by root
	got, err := exportDir(unwritable, unwritable)
	if err != nil || got != filepath.Join(state, "privacy-operator", "exports") {
		t.Errorf("default not creatable: %q, %v; want the state directory", got, err)
	}
	_, err = exportDir(unwritable, defaultExportDir)
	if err == nil || !strings.Contains(err.Error(), "--export-dir /dev/null/exports cannot be created") {
		t.Errorf("a chosen directory that cannot be created: %v, want an error naming the flag", err)
	}
}
