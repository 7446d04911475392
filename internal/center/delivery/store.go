// Package delivery hands people their Access exports: it opens the export
// the operator wrote for a request (in the operator's export directory or
// bucket, read-only), checks it against the size and sha256 that the
// request's status records while it streams, and shows it as a readable
// page. It reads the export document as docs/exports.md describes it.
package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// exportObject is the name of a request's export in the operator's store,
// under a folder (or prefix) named by the request's UID.
const exportObject = "export.json"

// ErrNoExport: the request has no export to deliver (not an Access
// request, not finished, or its export expired and was deleted).
var ErrNoExport = errors.New("the request has no export")

// ErrChecksum: what the store holds is not the export the request's
// status describes (its size or sha256 differ).
var ErrChecksum = errors.New("the export does not match the size and sha256 in the request's status")

// Store opens a request's export.
type Store interface {
	// Open opens the export status.export of pr locates. The reader is
	// checked: it fails with ErrChecksum instead of ending when what it
	// read differs from status.export's size or sha256.
	Open(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest) (io.ReadCloser, error)
}

// Dir is the operator's export directory, mounted into the center.
type Dir struct{ Root string }

// Open implements Store: ROOT/<uid>/export.json, when status.export
// locates the export there.
func (d Dir) Open(_ context.Context, pr *privacyv1alpha1.PrivacyRequest) (io.ReadCloser, error) {
	exp, err := exportOf(pr)
	if err != nil {
		return nil, err
	}
	if strings.Contains(exp.Location, "://") {
		return nil, fmt.Errorf("the export is at %s, not in a directory: configure exports.s3", exp.Location)
	}
	f, err := os.Open(filepath.Join(d.Root, string(pr.UID), exportObject))
	if err != nil {
		return nil, err
	}
	return checked(f, exp), nil
}

// exportOf is pr's export, when its location is the one the operator
// writes for pr's UID.
func exportOf(pr *privacyv1alpha1.PrivacyRequest) (*privacyv1alpha1.ExportReference, error) {
	exp := pr.Status.Export
	if exp == nil || pr.UID == "" {
		return nil, ErrNoExport
	}
	if !strings.HasSuffix(exp.Location, "/"+string(pr.UID)+"/"+exportObject) {
		return nil, fmt.Errorf("status.export.location %q is not the request's export (.../%s/%s)", exp.Location, pr.UID, exportObject)
	}
	return exp, nil
}

// checked wraps r so that it ends with ErrChecksum rather than io.EOF when
// it did not hold exactly exp's bytes.
func checked(r io.ReadCloser, exp *privacyv1alpha1.ExportReference) io.ReadCloser {
	return &verified{r: r, hash: sha256.New(), want: exp.Bytes, sum: exp.SHA256}
}

type verified struct {
	r    io.ReadCloser
	hash hash.Hash
	n    int64
	want int64
	sum  string
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.hash.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want {
		return n, ErrChecksum
	}
	if err == io.EOF && (v.n != v.want || hex.EncodeToString(v.hash.Sum(nil)) != v.sum) {
		return n, ErrChecksum
	}
	return n, err
}

func (v *verified) Close() error { return v.r.Close() }

// Copy copies a checked export to w, holding back the last bytes read
// until it ends cleanly: an export that fails its check at its end leaves
// the response short of its Content-Length, so the client sees a broken
// download rather than a whole wrong one.
func Copy(w io.Writer, export io.Reader) error {
	buf, held := make([]byte, 32<<10), make([]byte, 0, 32<<10)
	for {
		n, err := export.Read(buf)
		if n > 0 {
			if len(held) > 0 {
				if _, werr := w.Write(held); werr != nil {
					return werr
				}
			}
			held = append(held[:0], buf[:n]...)
		}
		if err == io.EOF {
			_, werr := w.Write(held)
			return werr
		}
		if err != nil {
			return err
		}
	}
}
