package export

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
// export up to this size is sent in one request whose SHA-256 the server
// checks; a larger one goes in parts and is read back to be checked.
const maxSinglePut = 5 << 30

// S3Store is a Store in S3-compatible object storage. Access data is
// staged on local disk as with DirStore (the spool and each source's part,
// under the embedded DirStore's directory); only the assembled export is
// uploaded, to {prefix}/{uid}/export.json, and its SHA-256 and size are
// checked against the object before the export is reported written. The
// staged parts stay until the export's reference is stored (Settle) or
// the request's export is deleted.
type S3Store struct {
	// DirStore stages the spool, the parts and, briefly, the assembled
	// export before its upload.
	DirStore
	client *minio.Client
	bucket string
	prefix string
	sse    encrypt.ServerSide
	// singlePutMax and partSize are maxSinglePut and the client's default
	// part size, smaller in tests.
	singlePutMax int64
	partSize     uint64
}

// NewS3Store returns an S3Store that stages in staging and uploads as cfg
// says. It does not contact the server: an unreachable bucket shows when an
// export is written (and the request's export step is retried).
func NewS3Store(staging DirStore, cfg S3Config) (*S3Store, error) {
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	sse, err := cfg.serverSide()
	if err != nil {
		return nil, err
	}
	return &S3Store{DirStore: staging, client: client, bucket: cfg.Bucket, prefix: cfg.Prefix, sse: sse, singlePutMax: maxSinglePut}, nil
}

// requestPrefix is where a request's objects live: {prefix}/{uid}/.
func (s *S3Store) requestPrefix(uid string) (string, error) {
	if !safeName.MatchString(uid) {
		return "", fmt.Errorf("invalid export uid %q", uid)
	}
	return s.keyPrefix() + uid + "/", nil
}

func (s *S3Store) keyPrefix() string {
	if s.prefix == "" {
		return ""
	}
	return s.prefix + "/"
}

// URL is the s3:// address of an object of this store's bucket.
func (s *S3Store) URL(key string) string { return "s3://" + s.bucket + "/" + key }

// settledMarker, in a request's staging directory, says that its export
// was uploaded and recorded and its parts dropped: assembling it again
// would upload an export without the data.
const settledMarker = "settled"

// Assemble implements Store: it assembles the export in the staging
// directory (as DirStore does), uploads it, checks the object's SHA-256 and
// size, and removes the local copy. The parts stay for a pass that must
// assemble again because its status write failed.
func (s *S3Store) Assemble(ctx context.Context, m Manifest) (Ref, error) {
	key, err := s.requestPrefix(m.UID)
	if err != nil {
		return Ref{}, err
	}
	key += "export.json"
	dir, _ := s.requestDir(m.UID)
	if _, err := os.Stat(filepath.Join(dir, settledMarker)); err == nil {
		return Ref{}, fmt.Errorf("the export of %s was written and recorded already; its staged data is gone", m.UID)
	}
	local, err := s.DirStore.assemble(m, false)
	if err != nil {
		return Ref{}, err
	}
	defer os.Remove(local.Location)
	if err := s.upload(ctx, key, local); err != nil {
		return Ref{}, fmt.Errorf("upload to %s: %w", s.URL(key), err)
	}
	if err := s.verify(ctx, key, local); err != nil {
		return Ref{}, fmt.Errorf("check %s after upload: %w", s.URL(key), err)
	}
	return Ref{Location: s.URL(key), SHA256: local.SHA256, Bytes: local.Bytes}, nil
}

// upload sends the assembled file. Up to singlePutMax it is one PUT that
// carries the file's SHA-256 both as the signed payload hash and as the
// object's checksum, so the server refuses a body that does not match; a
// larger file goes in parts (checked by verify).
func (s *S3Store) upload(ctx context.Context, key string, local Ref) error {
	f, err := os.Open(local.Location)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := minio.PutObjectOptions{ContentType: "application/json", ServerSideEncryption: s.sse}
	if local.Bytes > s.singlePutMax {
		opts.PartSize = s.partSize
		_, err = s.client.PutObject(ctx, s.bucket, key, f, local.Bytes, opts)
		return err
	}
	sum, err := hex.DecodeString(local.SHA256)
	if err != nil {
		return err
	}
	opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum)}
	// Without a streaming signature, the request is signed over the
	// SHA-256 given here, which the server checks against the body.
	opts.DisableContentSha256 = true
	_, err = minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, f, local.Bytes, "", local.SHA256, opts)
	return err
}

// verify checks the stored object against the file: its size, and its
// SHA-256 as the server reports it or, where the server keeps none for the
// whole object (a multipart upload's checksum covers the parts), as read
// back.
func (s *S3Store) verify(ctx context.Context, key string, local Ref) error {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return err
	}
	if info.Size != local.Bytes {
		return fmt.Errorf("the object has %d bytes, the export %d", info.Size, local.Bytes)
	}
	if sum, err := base64.StdEncoding.DecodeString(info.ChecksumSHA256); err == nil && len(sum) == sha256.Size {
		if got := hex.EncodeToString(sum); got != local.SHA256 {
			return fmt.Errorf("the object's sha256 is %s, the export's %s", got, local.SHA256)
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
		return fmt.Errorf("the object read back has sha256 %s, the export %s", got, local.SHA256)
	}
	return nil
}

// Settle drops a request's staged parts once its export's reference is
// stored, so that the data is not kept twice until the export expires. A
// marker stays in their place: a pass working from a stale view must not
// assemble (and upload) the export again without them.
func (s *S3Store) Settle(uid string) error {
	dir, err := s.requestDir(uid)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, settledMarker), nil, 0o600); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "parts")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Delete implements Store: the request's objects and its staged data. A
// request has one object (or a few, were the layout to change), so they
// are listed first, which reports an unreachable bucket, then removed one
// by one.
func (s *S3Store) Delete(ctx context.Context, uid string) error {
	prefix, err := s.requestPrefix(uid)
	if err != nil {
		return err
	}
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list %s: %w", s.URL(prefix), obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	for _, key := range keys {
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete %s: %w", s.URL(key), err)
		}
	}
	return s.DirStore.Delete(ctx, uid)
}

// Requests lists the request uids that have an object in the bucket or
// data in the staging directory.
func (s *S3Store) Requests(ctx context.Context) ([]string, error) {
	uids, err := s.DirStore.Requests(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(uids))
	for _, uid := range uids {
		seen[uid] = true
	}
	prefix := s.keyPrefix()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.URL(prefix), obj.Err)
		}
		uid, isDir := strings.CutSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if isDir && safeName.MatchString(uid) && !seen[uid] {
			seen[uid] = true
			uids = append(uids, uid)
		}
	}
	return uids, nil
}
