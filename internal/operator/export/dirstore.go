package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DirStore is a Store in a directory (a PersistentVolume in a cluster):
// {dir}/{uid}/parts/{part}.json and {dir}/{uid}/export.json, mode 0600.
type DirStore struct {
	Dir string
}

func (s DirStore) requestDir(uid string) (string, error) {
	if !safeName.MatchString(uid) {
		return "", fmt.Errorf("invalid export uid %q", uid)
	}
	return filepath.Join(s.Dir, uid), nil
}

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

// Put stores verified Access data of job jobID that has not been filed yet
// (it implements dispatch.Spool) and returns the file. The file is named
// by the job, so that DropSpool can remove an answer that was never filed
// (another answer to the same job was, or the request finished or went).
func (s DirStore) Put(jobID string, data []byte) (string, error) {
	dir := filepath.Join(s.Dir, spoolDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	prefix := "data"
	if safeName.MatchString(jobID) && !strings.Contains(jobID, ".") {
		prefix = jobID
	}
	tmp, err := os.CreateTemp(dir, prefix+".*.json")
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
	dir, err := s.requestDir(m.UID)
	if err != nil {
		return Ref{}, err
	}
	partFile := func(src Source) string {
		return filepath.Join(dir, "parts", PartName(src.Namespace, src.Name)+".json")
	}
	for i := range m.Sources {
		src := &m.Sources[i]
		sum, n, err := hashFile(partFile(*src))
		if errors.Is(err, fs.ErrNotExist) {
			if src.hasPart() {
				return Ref{}, missingPart(*src)
			}
			continue
		}
		if err != nil {
			return Ref{}, fmt.Errorf("export part of %s/%s: %w", src.Namespace, src.Name, err)
		}
		src.SHA256, src.Bytes = sum, n
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Ref{}, err
	}
	final := filepath.Join(dir, exportObject)
	if f, err := os.Open(final); err == nil {
		created, err := createdAt(f)
		f.Close()
		if err != nil {
			return Ref{}, fmt.Errorf("read %s: %w", final, err)
		}
		if !created.IsZero() {
			m.CreatedAt = created
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Ref{}, err
	}
	tmp, err := os.CreateTemp(dir, ".export-*.json")
	if err != nil {
		return Ref{}, err
	}
	defer os.Remove(tmp.Name())
	ref, err := writeDocument(tmp, m, func(w io.Writer, src Source) error {
		f, err := os.Open(partFile(src))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		tmp.Close()
		return Ref{}, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return Ref{}, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Ref{}, err
	}
	if err := tmp.Close(); err != nil {
		return Ref{}, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Ref{}, err
	}
	// The parts stay until Delete: a pass whose status write failed
	// assembles the export again and must find the same data.
	ref.Location = final
	return ref, nil
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
