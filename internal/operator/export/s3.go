package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// maxSinglePut is the largest object S3 takes in one PUT (5 GiB). An
// object up to this size is sent in one request whose SHA-256 the server
// checks; a larger one goes in parts and is read back to be checked.
const maxSinglePut = 5 << 30

// S3Store is a Store in S3-compatible object storage. Everything a request
// has is in the bucket, under {prefix}/{uid}/: each source's part as it is
// filed (parts/{part}.json), the export (export.json) and, once the export
// is recorded and its parts dropped, a marker (settled). So any replica
// assembles an export from the parts another one filed. Every upload's
// SHA-256 and size are checked against the stored object before it counts
// as written.
//
// Every object carries the install's tag (x-amz-meta-privacy-operator-install),
// and the sweep removes only objects with it, in the layout above, under a
// name shaped like a PrivacyRequest UID (see DeleteOrphan). Each call's
// exchanges with the server are bounded by the config's Timeouts: the
// calls run on the reconcile workers.
//
// The embedded DirStore is only the spool of this replica: Access data
// between its arrival and the pass that files it (Put, SweepSpool), and
// the export while it is assembled and uploaded.
type S3Store struct {
	DirStore
	client   *minio.Client
	bucket   string
	prefix   string
	install  string
	sse      encrypt.ServerSide
	timeouts Timeouts
	// singlePutMax and partSize are maxSinglePut and the client's default
	// part size, smaller in tests.
	singlePutMax int64
	partSize     uint64
}

// NewS3Store returns an S3Store that spools in spool and stores as cfg
// says. It does not contact the server: an unreachable bucket shows when a
// part or an export is written (and that step is retried).
func NewS3Store(spool DirStore, cfg S3Config) (*S3Store, error) {
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	sse, err := cfg.serverSide()
	if err != nil {
		return nil, err
	}
	return &S3Store{
		DirStore: spool, client: client, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), install: cfg.installID(),
		sse: sse, timeouts: cfg.Timeouts.withDefaults(), singlePutMax: maxSinglePut,
	}, nil
}

// requestPrefix is where a request's objects live: {prefix}/{uid}/.
func (s *S3Store) requestPrefix(uid string) (string, error) {
	if !safeName.MatchString(uid) {
		return "", fmt.Errorf("invalid export uid %q", uid)
	}
	return s.keyPrefix() + uid + "/", nil
}

// keyPrefix is {prefix}/; the prefix is never empty (S3Config.validate).
func (s *S3Store) keyPrefix() string { return s.prefix + "/" }

// partKey is the object of a source's part of request uid.
func (s *S3Store) partKey(uid, part string) (string, error) {
	prefix, err := s.requestPrefix(uid)
	if err != nil {
		return "", err
	}
	if !safeName.MatchString(part) {
		return "", fmt.Errorf("invalid export part %q", part)
	}
	return prefix + partsDir + part + ".json", nil
}

// partsDir holds a request's parts, under its prefix.
const partsDir = "parts/"

// URL is the s3:// address of an object of this store's bucket.
func (s *S3Store) URL(key string) string { return "s3://" + s.bucket + "/" + key }

// settledMarker, under a request's prefix, says that its export was
// uploaded and recorded and its parts dropped: assembling it again would
// upload an export without the data.
const settledMarker = "settled"

// metaSHA256 is the user metadata (x-amz-meta-sha256) in which a part
// carries its SHA-256, hex: Assemble puts it in the manifest before it
// reads the part, and checks the part against it as it streams it.
const metaSHA256 = "Sha256"

// metaInstall is the user metadata (x-amz-meta-privacy-operator-install)
// that tags every object this install writes: the sweep deletes nothing
// without it.
const metaInstall = "Privacy-Operator-Install"

// WritePart implements Store: it uploads the data as the source's part and
// checks the object. Writing the same part again replaces it.
func (s *S3Store) WritePart(ctx context.Context, uid, part string, data []byte) error {
	key, err := s.partKey(uid, part)
	if err != nil {
		return err
	}
	if !json.Valid(data) {
		return errors.New("source data is not valid JSON")
	}
	sum := sha256.Sum256(data)
	local := Ref{SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data))}
	return bounded(ctx, s.timeouts.forCall(s.timeouts.Call, local.Bytes), func(ctx context.Context) error {
		return s.put(ctx, key, bytes.NewReader(data), local, true)
	})
}

// AdoptPart implements Store: it uploads spooled data (a file Put returned)
// as the source's part, checks the object, then removes the file. The file
// stays when the upload fails, for the next pass. A part that is already
// filed (the pass that filed it failed to store status and runs again) is
// kept.
func (s *S3Store) AdoptPart(ctx context.Context, uid, part, file string) error {
	key, err := s.partKey(uid, part)
	if err != nil {
		return err
	}
	if filepath.Dir(file) != filepath.Join(s.Dir, spoolDir) {
		return fmt.Errorf("file %q is not in this store's spool", file)
	}
	sum, n, err := hashFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
			filed, listErr := s.exists(ctx, key)
			if listErr != nil {
				return listErr
			}
			if !filed {
				return err
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := bounded(ctx, s.timeouts.forCall(s.timeouts.Call, n), func(ctx context.Context) error {
		return s.put(ctx, key, f, Ref{SHA256: sum, Bytes: n}, true)
	}); err != nil {
		return err
	}
	return os.Remove(file)
}

// put uploads body, of local's size and SHA-256, to key and checks the
// object; a part also carries its SHA-256 as metadata.
func (s *S3Store) put(ctx context.Context, key string, body io.Reader, local Ref, part bool) error {
	if err := s.upload(ctx, key, body, local, part); err != nil {
		return fmt.Errorf("upload to %s: %w", s.URL(key), err)
	}
	if err := s.verify(ctx, key, local); err != nil {
		return fmt.Errorf("check %s after upload: %w", s.URL(key), err)
	}
	return nil
}

// Assemble implements Store: it streams the request's parts from the
// bucket into the export, in a file of the spool, uploads it, checks the
// object's SHA-256 and size, and removes the file. The parts stay for a
// pass that must assemble again because its status write failed; an
// export written before keeps its createdAt, so that the same parts give
// the same bytes. Finding the parts gets Timeouts.Call; the rest
// Timeouts.Assemble plus Timeouts.PerMiB for each MiB of the parts.
func (s *S3Store) Assemble(ctx context.Context, m Manifest) (Ref, error) {
	prefix, err := s.requestPrefix(m.UID)
	if err != nil {
		return Ref{}, err
	}
	var found parts
	if err := bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
		found, err = s.lookUp(ctx, prefix, &m)
		return err
	}); err != nil {
		return Ref{}, err
	}
	var ref Ref
	err = bounded(ctx, s.timeouts.forCall(s.timeouts.Assemble, found.bytes), func(ctx context.Context) error {
		ref, err = s.assemble(ctx, prefix, m, found.etags)
		return err
	})
	return ref, err
}

// parts is what lookUp found of a request's parts: the ETag of each, by
// key, and their total size.
type parts struct {
	etags map[string]string
	bytes int64
}

// lookUp finds what the request has in the bucket with one listing of its
// prefix: the settled marker (its export must not be assembled again),
// each source's part, whose SHA-256 and size it puts in m from the part's
// metadata, and an export written before, whose createdAt m takes. Only
// objects the listing shows are read: without an unconditioned
// s3:ListBucket, AWS answers a HEAD of a missing key with 403, not 404.
func (s *S3Store) lookUp(ctx context.Context, prefix string, m *Manifest) (parts, error) {
	objs, err := s.list(ctx, prefix)
	if err != nil {
		return parts{}, err
	}
	if _, ok := objs[settledMarker]; ok {
		return parts{}, fmt.Errorf("the export of %s was written and recorded already; its parts are gone", m.UID)
	}
	found := parts{etags: make(map[string]string, len(m.Sources))}
	for i := range m.Sources {
		src := &m.Sources[i]
		partKey := prefix + partsDir + PartName(src.Namespace, src.Name) + ".json"
		if _, ok := objs[strings.TrimPrefix(partKey, prefix)]; !ok {
			if src.hasPart() {
				return parts{}, missingPart(*src)
			}
			continue
		}
		info, err := s.client.StatObject(ctx, s.bucket, partKey, minio.StatObjectOptions{})
		if err != nil {
			return parts{}, fmt.Errorf("export part of %s/%s: read %s: %w", src.Namespace, src.Name, s.URL(partKey), err)
		}
		sum := info.UserMetadata[metaSHA256]
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return parts{}, fmt.Errorf("export part of %s/%s: %s carries no sha256", src.Namespace, src.Name, s.URL(partKey))
		}
		src.SHA256, src.Bytes = sum, info.Size
		found.etags[partKey] = info.ETag
		found.bytes += info.Size
	}
	if _, ok := objs[exportObject]; ok {
		obj, err := s.client.GetObject(ctx, s.bucket, prefix+exportObject, minio.GetObjectOptions{})
		if err != nil {
			return parts{}, fmt.Errorf("read %s: %w", s.URL(prefix+exportObject), err)
		}
		created, err := createdAt(obj)
		obj.Close()
		if err != nil {
			return parts{}, fmt.Errorf("read %s: %w", s.URL(prefix+exportObject), err)
		}
		if !created.IsZero() {
			m.CreatedAt = created
		}
	}
	return found, nil
}

// assemble writes the export of m, whose sources lookUp filled in, to a
// file of the spool and uploads it.
func (s *S3Store) assemble(ctx context.Context, prefix string, m Manifest, etags map[string]string) (Ref, error) {
	spool := filepath.Join(s.Dir, spoolDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return Ref{}, err
	}
	// In the spool, so that the sweep removes a file an operator that
	// stopped mid-upload left behind.
	tmp, err := os.CreateTemp(spool, "export-*.json")
	if err != nil {
		return Ref{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	local, err := writeDocument(tmp, m, func(w io.Writer, src Source) error {
		partKey := prefix + partsDir + PartName(src.Namespace, src.Name) + ".json"
		return s.copyPart(ctx, w, partKey, etags[partKey], src)
	})
	if err != nil {
		return Ref{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Ref{}, err
	}
	key := prefix + exportObject
	if err := s.put(ctx, key, tmp, local, false); err != nil {
		return Ref{}, err
	}
	return Ref{Location: s.URL(key), SHA256: local.SHA256, Bytes: local.Bytes}, nil
}

// copyPart streams the part at key, the object Assemble looked at (etag),
// to w and checks that it is the SHA-256 and size of the manifest.
func (s *S3Store) copyPart(ctx context.Context, w io.Writer, key, etag string, src Source) error {
	opts := minio.GetObjectOptions{}
	if etag != "" {
		if err := opts.SetMatchETag(etag); err != nil {
			return err
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.URL(key), err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), obj)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.URL(key), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != src.SHA256 || n != src.Bytes {
		return fmt.Errorf("%s read %d bytes with sha256 %s, its metadata says %d bytes with %s", s.URL(key), n, got, src.Bytes, src.SHA256)
	}
	return nil
}

// upload sends body. Up to singlePutMax it is one PUT that carries the
// SHA-256 both as the signed payload hash and as the object's checksum, so
// the server refuses a body that does not match; a larger body goes in
// parts (checked by verify).
func (s *S3Store) upload(ctx context.Context, key string, body io.Reader, local Ref, part bool) error {
	opts := minio.PutObjectOptions{ContentType: "application/json", ServerSideEncryption: s.sse, UserMetadata: map[string]string{metaInstall: s.install}}
	if part {
		opts.UserMetadata[metaSHA256] = local.SHA256
	}
	if local.Bytes > s.singlePutMax {
		opts.PartSize = s.partSize
		_, err := s.client.PutObject(ctx, s.bucket, key, body, local.Bytes, opts)
		return err
	}
	sum, err := hex.DecodeString(local.SHA256)
	if err != nil {
		return err
	}
	opts.UserMetadata["x-amz-checksum-sha256"] = base64.StdEncoding.EncodeToString(sum)
	// Without a streaming signature, the request is signed over the
	// SHA-256 given here, which the server checks against the body.
	opts.DisableContentSha256 = true
	_, err = minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, body, local.Bytes, "", local.SHA256, opts)
	return err
}

// verify checks the stored object against what was sent: its size, and its
// SHA-256 as the server reports it or, where the server keeps none for the
// whole object (a multipart upload's checksum covers the parts), as read
// back.
func (s *S3Store) verify(ctx context.Context, key string, local Ref) error {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return err
	}
	if info.Size != local.Bytes {
		return fmt.Errorf("the object has %d bytes, the upload %d", info.Size, local.Bytes)
	}
	if sum, err := base64.StdEncoding.DecodeString(info.ChecksumSHA256); err == nil && len(sum) == sha256.Size {
		if got := hex.EncodeToString(sum); got != local.SHA256 {
			return fmt.Errorf("the object's sha256 is %s, the upload's %s", got, local.SHA256)
		}
		return nil
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != local.SHA256 {
		return fmt.Errorf("the object read back has sha256 %s, the upload %s", got, local.SHA256)
	}
	return nil
}
