package export

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What the export sweep needs of a DirStore: the requests it holds, removing
// a request's folder only when all of it is the store's own, and spooled data
// that was never filed.

// Requests lists the request uids that have something stored: the
// directories whose names are shaped like a PrivacyRequest UID.
func (s DirStore) Requests(context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var uids []string
	for _, e := range entries {
		if e.IsDir() && requestUID.MatchString(e.Name()) {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

// DeleteOrphan implements Swept: it removes a request's directory when it
// holds only what the store writes there (parts/<part>.json, export.json
// and their temporary files).
func (s DirStore) DeleteOrphan(ctx context.Context, uid string) (bool, error) {
	if !requestUID.MatchString(uid) {
		return false, nil
	}
	dir := filepath.Join(s.Dir, uid)
	if info, err := os.Lstat(dir); err != nil || !info.IsDir() {
		return false, nil
	}
	own, err := holdsOnly(dir, func(e fs.DirEntry) bool {
		if e.IsDir() {
			return e.Name() == "parts"
		}
		return e.Name() == exportObject || matches(".export-*.json", e.Name())
	})
	if err == nil && own {
		own, err = holdsOnly(filepath.Join(dir, "parts"), func(e fs.DirEntry) bool {
			part, isJSON := strings.CutSuffix(e.Name(), ".json")
			return !e.IsDir() && (isJSON && safeName.MatchString(part) || matches(".part-*", e.Name()))
		})
	}
	if err != nil || !own {
		return false, err
	}
	return true, s.Delete(ctx, uid)
}

// holdsOnly reports whether every entry of dir (none when it does not
// exist) is a directory or a regular file that own accepts.
func holdsOnly(dir string, own func(fs.DirEntry) bool) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !(e.IsDir() || e.Type().IsRegular()) || !own(e) {
			return false, nil
		}
	}
	return true, nil
}

func matches(pattern, name string) bool {
	ok, _ := filepath.Match(pattern, name)
	return ok
}

// SweepSpool removes spooled data older than before: data whose outcome
// was never recorded (the operator stopped between its arrival and the next
// pass). It returns how many files it removed.
func (s DirStore) SweepSpool(before time.Time) (int, error) {
	dir, entries, err := s.spoolEntries()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || !info.ModTime().Before(before) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// DropSpool removes spooled answers that will never be filed: the files of
// every job for which open is false (its request finished or is gone, or
// another answer to it was filed), once older than before (an answer that
// arrives just before its request is in the caller's cache is not taken
// for a stale one). open is asked once per job. Files not named by a job
// (another version's) are left to SweepSpool. It returns how many files it
// removed.
func (s DirStore) DropSpool(open func(jobID string) bool, before time.Time) (int, error) {
	dir, entries, err := s.spoolEntries()
	if err != nil {
		return 0, err
	}
	asked := map[string]bool{}
	n := 0
	for _, e := range entries {
		job, _, ok := strings.Cut(e.Name(), ".")
		// data...: an answer of a job not named (or an earlier version's);
		// export-...: an export being uploaded (S3Store).
		if !ok || e.IsDir() || strings.HasPrefix(job, "data") || strings.HasPrefix(job, "export-") {
			continue
		}
		keep, seen := asked[job]
		if !seen {
			keep = open(job)
			asked[job] = keep
		}
		if keep {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// spoolEntries lists the spool (none when it does not exist yet).
func (s DirStore) spoolEntries() (string, []os.DirEntry, error) {
	dir := filepath.Join(s.Dir, spoolDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil, nil
	}
	return dir, entries, err
}
