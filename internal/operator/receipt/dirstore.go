package receipt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DirStore keeps the log in a directory (a PersistentVolume shared by the
// replicas, or a folder a verifier downloaded the objects to).
type DirStore struct {
	root string
}

// tmpPrefix marks a file being written; List passes over it, and one left
// by a crash is harmless.
const tmpPrefix = ".tmp-"

// NewDirStore returns the store in dir, creating it (mode 0700) if needed.
func NewDirStore(dir string) (*DirStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("receipt directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, receiptsDir), 0o700); err != nil {
		return nil, fmt.Errorf("receipt directory: %w", err)
	}
	return &DirStore{root: abs}, nil
}

// path is the file of an object.
func (s *DirStore) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Location implements Store: the file's path.
func (s *DirStore) Location(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name))
}

// Create implements Store. The data goes to a temporary file that is
// synced, then hard-linked to its name: link fails when the name exists
// (the exclusivity of O_EXCL) and the name appears with the whole content
// or not at all (a crash leaves at most a temporary file).
func (s *DirStore) Create(_ context.Context, name string, data []byte) error {
	final, tmp, err := s.stage(name, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("create %s: %w", final, err)
	}
	return syncDir(filepath.Dir(final))
}

// Put implements Store: a synced temporary file renamed over the name.
func (s *DirStore) Put(_ context.Context, name string, data []byte) error {
	final, tmp, err := s.stage(name, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", final, err)
	}
	return syncDir(filepath.Dir(final))
}

// stage writes data to a synced temporary file beside name's file, final.
func (s *DirStore) stage(name string, data []byte) (final, tmp string, err error) {
	if final, err = s.path(name); err != nil {
		return "", "", err
	}
	tmp, err = writeTemp(final, data)
	return final, tmp, err
}

// writeTemp writes data to a synced temporary file beside final.
func writeTemp(final string, data []byte) (string, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("receipt directory: %w", err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(final)+"-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", final, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", final, err)
	}
	return f.Name(), nil
}

// syncDir makes a new or renamed name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Get implements Store.
func (s *DirStore) Get(_ context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return data, nil
}

// List implements Store: the files of the receipts directory.
func (s *DirStore) List(_ context.Context, after string) ([]string, error) {
	dir := filepath.Join(s.root, receiptsDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		name := receiptsDir + e.Name()
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), tmpPrefix) && name > after {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// ListDir implements DirLister: the files under dir, at any depth.
func (s *DirStore) ListDir(_ context.Context, dir, after string) ([]string, error) {
	if !strings.HasSuffix(dir, "/") || strings.Contains(dir, "..") {
		return nil, fmt.Errorf("invalid directory %q", dir)
	}
	root := filepath.Join(s.root, filepath.FromSlash(dir))
	var names []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); e.Type().IsRegular() && !strings.HasPrefix(e.Name(), tmpPrefix) && name > after {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	sort.Strings(names)
	return names, nil
}

// Delete implements Store.
func (s *DirStore) Delete(_ context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
}
