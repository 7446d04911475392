package export_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// DropSpool removes the answers of jobs that are not open, once old
// enough, and leaves files no job names to SweepSpool.
func TestDropSpool(t *testing.T) {
	s := export.DirStore{Dir: t.TempDir()}
	put := func(job string) string {
		f, err := s.Put(job, []byte(`{"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	open1, open2, settled1, settled2 := put("pr-open"), put("pr-open"), put("pr-settled"), put("pr-settled")
	unnamed := put("probe/ns/name") // not a file name: spooled as data.*
	upload := filepath.Join(s.Dir, ".spool", "export-123.json")
	if err := os.WriteFile(upload, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}

	asked := map[string]int{}
	open := func(job string) bool { asked[job]++; return job == "pr-open" }
	if n, err := s.DropSpool(open, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("files younger than the grace: removed %d (%v), want none", n, err)
	}
	asked = map[string]int{}
	n, err := s.DropSpool(open, time.Now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want the settled job's 2", n, err)
	}
	for _, f := range []string{open1, open2, unnamed, upload} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(f), err)
		}
	}
	for _, f := range []string{settled1, settled2} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s kept", filepath.Base(f))
		}
	}
	if asked["pr-open"] != 1 || asked["pr-settled"] != 1 {
		t.Errorf("open asked %v, want once per job and sweep", asked)
	}
}
