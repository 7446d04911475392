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
	// Categories tell the person about each category of data the source
	// holds (GDPR Art. 15(1)): what its DataSource discloses and how long
	// the RetentionPolicies that cover it keep it. Empty when the
	// DataSource declares no categories (or no longer exists).
	Categories []Category `json:"categories,omitempty"`
}

// Category is what an export tells the person about one category of
// their data at a source.
type Category struct {
	Category   string   `json:"category"`
	Purposes   []string `json:"purposes,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Origin     string   `json:"origin,omitempty"`
	// Retention lists the policies that purge the category at the source;
	// empty (never null) when none does.
	Retention []Retention `json:"retention"`
}

// Retention is one RetentionPolicy's rule for a category.
type Retention struct {
	Policy    string `json:"policy"`
	RetainFor string `json:"retainFor"`
}

// statusCompleted is the Status of a source that finished its job (the
// request's SourcePhaseCompleted).
const statusCompleted = "Completed"

// hasPart reports whether the source's part must be in the store: it
// completed with records, and the reconciler files the data of every such
// answer (a "null" when the source sent none) before it records the
// source as Completed. Other sources may have a part (a NotFound answer
// that carried data) or not.
func (src Source) hasPart() bool { return src.Status == statusCompleted && src.Records > 0 }

// ErrMissingPart is returned by Assemble when the part of a source that
// completed with records is not in the store: an export without it would
// silently lack that source's data.
var ErrMissingPart = errors.New("its data is not in the export store")

func missingPart(src Source) error {
	return fmt.Errorf("export part of %s/%s (%s, %d records): %w", src.Namespace, src.Name, src.Status, src.Records, ErrMissingPart)
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
	// filling in each source's SHA256 and Bytes from its stored part. A
	// source that completed with records but has no part fails it
	// (ErrMissingPart, naming the source). When an export of the request
	// was written before, its CreatedAt is kept instead of m's: assembling
	// the same parts again (a pass from a stale view) gives the same bytes,
	// so the sha256 already recorded in status stays true.
	Assemble(ctx context.Context, m Manifest) (Ref, error)
	// Delete removes everything stored for a request.
	Delete(ctx context.Context, uid string) error
}

// Swept is a Store that the export sweep lists and cleans: DirStore and
// S3Store. The sweep must never remove what the operator did not write:
// only names shaped like a PrivacyRequest UID are listed, and only a
// request's folder that holds nothing but the store's own layout is
// removed.
type Swept interface {
	Store
	// Requests lists the request uids that have something stored: the
	// names shaped like a PrivacyRequest UID, nothing else.
	Requests(ctx context.Context) ([]string, error)
	// DeleteOrphan removes what is stored for uid, a request that no
	// longer exists, when all of it is what the store writes there; it
	// reports whether it did. Anything else keeps all of it.
	DeleteOrphan(ctx context.Context, uid string) (bool, error)
	// SweepSpool removes spooled data older than before.
	SweepSpool(before time.Time) (int, error)
	// DropSpool removes spooled answers of the jobs that are not open,
	// older than before.
	DropSpool(open func(jobID string) bool, before time.Time) (int, error)
}

// Settler is a Store that keeps the parts apart from the export: once the
// export's reference is stored in the request's status, Settle drops the
// parts, so that the data is not kept twice until the export expires.
type Settler interface {
	Settle(ctx context.Context, uid string) error
}

// exportObject is the file (or object) of a request's export.
const exportObject = "export.json"

var safeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// requestUID is the shape of a PrivacyRequest's UID (a UUID as the API
// server writes it): the only names the sweep takes for a request's.
var requestUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// PartName is the file name of a source's part.
func PartName(namespace, name string) string { return namespace + "_" + name }

// spoolDir holds Access data between its arrival and the reconcile that
// files it as a part. It sits inside the export directory, on the same file
// system, so that filing a part is a rename.
const spoolDir = ".spool"

// createdAt is the CreatedAt in the manifest of the export document that r
// holds (the manifest comes first), or zero when r holds no such document.
// An error is one of reading r.
func createdAt(r io.Reader) (time.Time, error) {
	er := &errReader{r: r}
	dec := json.NewDecoder(er)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return time.Time{}, er.err
	}
	if tok, err := dec.Token(); err != nil || tok != "manifest" {
		return time.Time{}, er.err
	}
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return time.Time{}, er.err
	}
	return m.CreatedAt, nil
}

// errReader remembers the error of reading r, other than its end.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// writeDocument writes the export document of m, whose sources carry the
// SHA256 and Bytes of their parts, to w; copyPart writes the part of each
// source that has one. It returns the document's SHA-256 and size.
func writeDocument(w io.Writer, m Manifest, copyPart func(w io.Writer, src Source) error) (Ref, error) {
	hash := sha256.New()
	counter := &countWriter{}
	w = io.MultiWriter(w, hash, counter)
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
		key, _ := json.Marshal(src.Namespace + "/" + src.Name)
		sep := ","
		if first {
			sep = ""
		}
		first = false
		if _, err := fmt.Fprintf(w, "%s%s:", sep, key); err != nil {
			return Ref{}, err
		}
		if err := copyPart(w, src); err != nil {
			return Ref{}, fmt.Errorf("export part of %s/%s: %w", src.Namespace, src.Name, err)
		}
	}
	if _, err := io.WriteString(w, "}}\n"); err != nil {
		return Ref{}, err
	}
	return Ref{SHA256: hex.EncodeToString(hash.Sum(nil)), Bytes: counter.n}, nil
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
