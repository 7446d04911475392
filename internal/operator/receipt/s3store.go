package receipt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// S3Store keeps the log in S3-compatible object storage, under
// {prefix}/receipts/. Create is a conditional PUT (If-None-Match: *), which
// AWS S3, MinIO, versitygw and Ceph RGW honour: of two writers of the same
// sequence exactly one succeeds. A server that ignores the header would let
// the second overwrite the first; that can only happen while two replicas
// both believe they lead, and Verify then reports the chain broken there.
type S3Store struct {
	client  *minio.Client
	bucket  string
	prefix  string
	install string
	sse     encrypt.ServerSide
	// timeout bounds each exchange with the server: the Notary must not
	// hang on a bucket that never answers.
	timeout time.Duration
	// page is how many names a listing request asks for: listPage, fewer
	// in tests.
	page int
}

// metaInstall tags every object with the install's id, as the export store
// does, so that the owner of an object in a shared bucket can be told.
const metaInstall = "Privacy-Operator-Install"

// maxObject bounds what Get reads: a receipt is a few KiB, so anything
// near this is not one, and must not exhaust the reader's memory.
const maxObject = 16 << 20

// listPage is how many names one listing request asks for.
const listPage = 1000

// NewS3Store returns the store cfg names (see ParseURL); the prefix is
// required. Each exchange gets cfg.Timeouts.Call (default 30 s). It does
// not contact the server.
func NewS3Store(cfg export.S3Config) (*S3Store, error) {
	if strings.Trim(cfg.Prefix, "/") == "" {
		return nil, errPrefixNeeded
	}
	client, err := cfg.NewClient()
	if err != nil {
		return nil, err
	}
	sse, err := cfg.ServerSide()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeouts.Call
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &S3Store{
		client: client, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), install: cfg.InstallTag(),
		sse: sse, timeout: timeout, page: listPage,
	}, nil
}

// key is the object key of a name.
func (s *S3Store) key(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return s.prefix + "/" + name, nil
}

// Location implements Store: s3://bucket/prefix/name.
func (s *S3Store) Location(name string) string {
	return "s3://" + s.bucket + "/" + s.prefix + "/" + name
}

// Create implements Store with a conditional PUT; the server's 412 (or
// 409, a concurrent conditional write in progress) is ErrExists.
func (s *S3Store) Create(ctx context.Context, name string, data []byte) error {
	err := s.put(ctx, name, data, true)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict) {
		return ErrExists
	}
	return err
}

// Put implements Store: an unconditional PUT.
func (s *S3Store) Put(ctx context.Context, name string, data []byte) error {
	return s.put(ctx, name, data, false)
}

// put uploads data in one PUT signed over its SHA-256, which it also sends
// as the object's checksum: the server refuses a body that does not match.
func (s *S3Store) put(ctx context.Context, name string, data []byte, exclusive bool) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	opts := minio.PutObjectOptions{
		ContentType: "application/json", ServerSideEncryption: s.sse,
		UserMetadata: map[string]string{
			metaInstall:             s.install,
			"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum[:]),
		},
		// Without a streaming signature, the request is signed over the
		// SHA-256 given below, which the server checks against the body.
		DisableContentSha256: true,
	}
	if exclusive {
		opts.SetMatchETagExcept("*")
	}
	return s.bounded(ctx, func(ctx context.Context) error {
		_, err := minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sum[:]), opts)
		if err != nil {
			return fmt.Errorf("write %s: %w", s.Location(name), err)
		}
		return nil
	})
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, name string) ([]byte, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = s.bounded(ctx, func(ctx context.Context) error {
		obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
		if err == nil {
			defer obj.Close()
			data, err = io.ReadAll(io.LimitReader(obj, maxObject+1))
		}
		switch {
		case minio.ToErrorResponse(err).Code == minio.NoSuchKey:
			return ErrNotFound
		case err != nil:
			return fmt.Errorf("read %s: %w", s.Location(name), err)
		case len(data) > maxObject:
			return fmt.Errorf("read %s: larger than %d bytes, not a receipt", s.Location(name), maxObject)
		}
		return nil
	})
	return data, err
}

// List implements Store, one page per request, each bounded on its own so
// that a long log is listed however long it takes in all.
func (s *S3Store) List(ctx context.Context, after string) ([]string, error) {
	return s.ListDir(ctx, receiptsDir, after)
}

// ListDir implements DirLister: the objects whose keys start with dir.
func (s *S3Store) ListDir(ctx context.Context, dir, after string) ([]string, error) {
	if !strings.HasSuffix(dir, "/") || strings.Contains(dir, "..") {
		return nil, fmt.Errorf("invalid directory %q", dir)
	}
	base := s.prefix + "/" + dir
	start := ""
	if after != "" {
		start = s.prefix + "/" + after
	}
	var names []string
	for {
		n := 0
		err := s.bounded(ctx, func(ctx context.Context) error {
			opts := minio.ListObjectsOptions{Prefix: base, StartAfter: start, Recursive: true, MaxKeys: s.page}
			for obj := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
				if obj.Err != nil {
					return fmt.Errorf("list %s: %w", s.Location(dir), obj.Err)
				}
				names = append(names, strings.TrimPrefix(obj.Key, s.prefix+"/"))
				start = obj.Key
				if n++; n == s.page {
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if n < s.page {
			return names, nil
		}
	}
}

// Delete implements Store.
func (s *S3Store) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	return s.bounded(ctx, func(ctx context.Context) error {
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete %s: %w", s.Location(name), err)
		}
		return nil
	})
}

// bounded runs fn with the store's timeout, and says so in the error when
// that is why fn failed.
func (s *S3Store) bounded(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (the S3 server did not answer within %s)", err, s.timeout)
	}
	return err
}

// errPrefixNeeded refuses a receipt URL without a prefix: the log's
// objects must not mix with whatever else the bucket holds.
var errPrefixNeeded = errors.New("the receipt URL needs a prefix, e.g. s3://bucket/privacy-receipts")

// ParseURL reads a receipt store's s3://bucket/prefix URL, whose query may
// set the parameters the export URL takes (endpoint, region, pathStyle,
// caFile, sse, sseKMSKeyID, credentialsDir, installID), over flags.
func ParseURL(raw string, flags export.S3Config) (export.S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return export.S3Config{}, fmt.Errorf("receipt URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return export.S3Config{}, errors.New("the receipt URL must be s3://bucket/prefix[?parameters]")
	}
	if strings.Trim(u.Path, "/") == "" {
		return export.S3Config{}, errPrefixNeeded
	}
	cfg, err := export.ParseS3URL(raw, flags)
	if err != nil {
		return export.S3Config{}, fmt.Errorf("receipt URL: %w", err)
	}
	return cfg, nil
}
