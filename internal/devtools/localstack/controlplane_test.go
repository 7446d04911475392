package localstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClearRefusesADirectoryThatIsNotAStateDirectory(t *testing.T) {
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "go.mod"), []byte("module x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Clear(project)
	if err == nil || !strings.Contains(err.Error(), "refusing to clear it") {
		t.Fatalf("Clear of a project directory: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(project, "go.mod")); err != nil {
		t.Fatal("Clear deleted a file it must not touch")
	}

	state := filepath.Join(t.TempDir(), "state")
	for _, f := range []string{marker, "logs/operator.log"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(state, f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(state, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Clear(state); err != nil {
		t.Fatalf("Clear of a state directory: %v", err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Error("the state directory is still there")
	}
	if err := Clear(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("Clear of a missing directory: %v", err)
	}
	if err := Clear(t.TempDir()); err != nil {
		t.Errorf("Clear of an empty directory: %v", err)
	}
}
