package packaging

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonRootID is NonRootUser's uid and gid.
const nonRootID = 65532

// The user database of the image: root and distroless' nonroot, no shell.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnonroot:x:65532:\n"
	// Go's resolver reads it; without it the order of files and DNS is a guess.
	nsswitch = "hosts: files dns\n"
)

// entry is one file or directory of a layer.
type entry struct {
	name string // without a leading slash
	mode int64
	uid  int
	dir  bool
	data []byte // a file's content, or
	src  string // the file to copy it from
}

// baseLayer holds what any Go binary expects of a Linux system: a CA bundle,
// a user database with the non-root user, a home for it and a /tmp.
func baseLayer(caBundle string, epoch time.Time) (v1.Layer, error) {
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, fmt.Errorf("the image's CA bundle: %w", err)
	}
	return layer([]entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte(nsswitch)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, uid: nonRootID, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
	}, epoch)
}

// binaryLayer holds the binaries built into dir, each at /<name>.
func binaryLayer(dir string, binaries []string, epoch time.Time) (v1.Layer, error) {
	var entries []entry
	for _, pkg := range binaries {
		base := path.Base(pkg)
		entries = append(entries, entry{name: base, mode: 0o755, src: filepath.Join(dir, base)})
	}
	return layer(entries, epoch)
}

// layer writes entries as one tar in memory and makes a gzip-compressed OCI
// layer of it (compressed once, then kept).
func layer(entries []entry, epoch time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := writeEntry(tw, e, epoch); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func writeEntry(tw *tar.Writer, e entry, epoch time.Time) error {
	h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: epoch, Format: tar.FormatPAX}
	if e.dir {
		h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		return tw.WriteHeader(h)
	}
	data := e.data
	if e.src != "" {
		var err error
		if data, err = os.ReadFile(e.src); err != nil {
			return err
		}
	}
	h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
