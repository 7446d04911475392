// Package export stores Access exports: each source's part as it arrives,
// then one document per request with a manifest of the sources, their
// record counts and sha256 sums.
package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Source is one source's entry in an export's manifest.
type Source struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Records   int64  `json:"records"`
	// SHA256 and Bytes describe the source's data as stored; empty when
	// the source returned none.
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
}

// Manifest heads an export document.
type Manifest struct {
	Request   string    `json:"request"`
	UID       string    `json:"uid"`
	CreatedAt time.Time `json:"createdAt"`
	Sources   []Source  `json:"sources"`
}

// Ref locates a written export.
type Ref struct {
	Location string
	SHA256   string
	Bytes    int64
}

// Store keeps exports. Implementations must be safe for concurrent use
// across different request uids.
type Store interface {
	// WritePart stores one source's data for a request (idempotent).
	WritePart(ctx context.Context, uid, part string, data []byte) error
	// AdoptPart files data spooled by Put as one source's part (idempotent).
	AdoptPart(ctx context.Context, uid, part, file string) error
	// Assemble writes the request's export from its parts and manifest,
	// filling in each source's SHA256 and Bytes from its stored part.
	Assemble(ctx context.Context, m Manifest) (Ref, error)
	// Delete removes everything stored for a request.
	Delete(ctx context.Context, uid string) error
}

// Swept is a Store that the export sweep lists and cleans: DirStore and
// S3Store.
type Swept interface {
	Store
	// Requests lists the request uids that have something stored.
	Requests(ctx context.Context) ([]string, error)
	// SweepSpool removes spooled data older than before.
	SweepSpool(before time.Time) (int, error)
}

// Settler is a Store that stages an export's data before it is written
// elsewhere: once the export's reference is stored in the request's
// status, Settle drops the staged copy.
type Settler interface {
	Settle(uid string) error
}

// DirStore is a Store in a directory (a PersistentVolume in a cluster):
// {dir}/{uid}/parts/{part}.json and {dir}/{uid}/export.json, mode 0600.
type DirStore struct {
	Dir string
}

var safeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

func (s DirStore) requestDir(uid string) (string, error) {
	if !safeName.MatchString(uid) {
		return "", fmt.Errorf("invalid export uid %q", uid)
	}
	return filepath.Join(s.Dir, uid), nil
}

// PartName is the file name of a source's part.
func PartName(namespace, name string) string { return namespace + "_" + name }

// WritePart implements Store.
func (s DirStore) WritePart(_ context.Context, uid, part string, data []byte) error {
	dir, err := s.requestDir(uid)
	if err != nil {
		return err
	}
	if !safeName.MatchString(part) {
		return fmt.Errorf("invalid export part %q", part)
	}
	if !json.Valid(data) {
		return errors.New("source data is not valid JSON")
	}
	if err := os.MkdirAll(filepath.Join(dir, "parts"), 0o700); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "parts", part+".json"), data)
}

// spoolDir holds Access data between its arrival and the reconcile that
// files it as a part. It sits inside the export directory, on the same file
// system, so that filing a part is a rename.
const spoolDir = ".spool"

// Put stores verified Access data that has not been filed yet (it
// implements dispatch.Spool) and returns the file.
func (s DirStore) Put(data []byte) (string, error) {
	dir := filepath.Join(s.Dir, spoolDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "data-*.json")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// AdoptPart files spooled data (a file Put returned) as a source's part of
// a request, by rename. A part that is already filed (the pass that filed it
// failed to store status and runs again) is kept.
func (s DirStore) AdoptPart(_ context.Context, uid, part, file string) error {
	dir, err := s.requestDir(uid)
	if err != nil {
		return err
	}
	if !safeName.MatchString(part) {
		return fmt.Errorf("invalid export part %q", part)
	}
	if filepath.Dir(file) != filepath.Join(s.Dir, spoolDir) {
		return fmt.Errorf("file %q is not in this store's spool", file)
	}
	if err := os.MkdirAll(filepath.Join(dir, "parts"), 0o700); err != nil {
		return err
	}
	target := filepath.Join(dir, "parts", part+".json")
	err = os.Rename(file, target)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(target); statErr == nil {
			return nil
		}
	}
	return err
}

// Assemble implements Store. The document is
// {"manifest": {...}, "data": {"<namespace>/<name>": <source data>, ...}},
// streamed from the parts so that large exports do not sit in memory.
func (s DirStore) Assemble(_ context.Context, m Manifest) (Ref, error) {
	return s.assemble(m, true)
}

// assemble writes the export document to {dir}/{uid}/export.json, synced
// to disk when durable (not for a copy that is uploaded and removed).
func (s DirStore) assemble(m Manifest, durable bool) (Ref, error) {
	dir, err := s.requestDir(m.UID)
	if err != nil {
		return Ref{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Ref{}, err
	}
	final := filepath.Join(dir, "export.json")
	tmp, err := os.CreateTemp(dir, ".export-*.json")
	if err != nil {
		return Ref{}, err
	}
	defer os.Remove(tmp.Name())
	hash := sha256.New()
	counter := &countWriter{}
	w := io.MultiWriter(tmp, hash, counter)

	for i := range m.Sources {
		src := &m.Sources[i]
		sum, n, err := hashFile(filepath.Join(dir, "parts", PartName(src.Namespace, src.Name)+".json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Ref{}, fmt.Errorf("export part of %s/%s: %w", src.Namespace, src.Name, err)
		}
		src.SHA256, src.Bytes = sum, n
	}
	head, err := json.Marshal(m)
	if err != nil {
		return Ref{}, err
	}
	if _, err := fmt.Fprintf(w, `{"manifest":%s,"data":{`, head); err != nil {
		return Ref{}, err
	}
	first := true
	for _, src := range m.Sources {
		if src.SHA256 == "" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, "parts", PartName(src.Namespace, src.Name)+".json"))
		if err != nil {
			return Ref{}, fmt.Errorf("export part of %s/%s: %w", src.Namespace, src.Name, err)
		}
		key, _ := json.Marshal(src.Namespace + "/" + src.Name)
		sep := ","
		if first {
			sep = ""
		}
		first = false
		_, err = fmt.Fprintf(w, "%s%s:", sep, key)
		if err == nil {
			_, err = io.Copy(w, f)
		}
		f.Close()
		if err != nil {
			return Ref{}, err
		}
	}
	if _, err := io.WriteString(w, "}}\n"); err != nil {
		return Ref{}, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return Ref{}, err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return Ref{}, err
		}
	}
	if err := tmp.Close(); err != nil {
		return Ref{}, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Ref{}, err
	}
	// The parts stay until Delete: a pass whose status write failed
	// assembles the export again and must find the same data.
	return Ref{Location: final, SHA256: hex.EncodeToString(hash.Sum(nil)), Bytes: counter.n}, nil
}

// Delete implements Store.
func (s DirStore) Delete(_ context.Context, uid string) error {
	dir, err := s.requestDir(uid)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// hashFile streams a file through sha256, so that a large part is never
// held in memory.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Requests lists the request uids that have something stored.
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
		if e.IsDir() && safeName.MatchString(e.Name()) {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

// SweepSpool removes spooled data older than before: data whose outcome
// was never recorded (the operator stopped between its arrival and the next
// pass). It returns how many files it removed.
func (s DirStore) SweepSpool(before time.Time) (int, error) {
	dir := filepath.Join(s.Dir, spoolDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
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

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
