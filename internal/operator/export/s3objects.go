package export

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Listing and removing a request's objects in the bucket: Settle, Delete
// and what the export sweep needs of an S3Store.

// removeAll removes the objects under prefix. A request has a few, so they
// are listed first, which reports an unreachable bucket, then removed one
// by one.
func (s *S3Store) removeAll(ctx context.Context, prefix string) error {
	objs, err := s.list(ctx, prefix)
	if err != nil {
		return err
	}
	return s.remove(ctx, prefix, objs)
}

// remove removes the objects objs under prefix (list's result), the
// settled marker last: while anything of the request is left, an export
// is never assembled again without its parts.
func (s *S3Store) remove(ctx context.Context, prefix string, objs map[string]minio.ObjectInfo) error {
	rels := slices.Sorted(maps.Keys(objs))
	if i := slices.Index(rels, settledMarker); i >= 0 {
		rels = append(slices.Delete(rels, i, i+1), settledMarker)
	}
	for _, rel := range rels {
		if err := s.client.RemoveObject(ctx, s.bucket, prefix+rel, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete %s: %w", s.URL(prefix+rel), err)
		}
	}
	return nil
}

// list lists the objects under prefix, by their keys after it.
func (s *S3Store) list(ctx context.Context, prefix string) (map[string]minio.ObjectInfo, error) {
	objs := map[string]minio.ObjectInfo{}
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.URL(prefix), obj.Err)
		}
		objs[strings.TrimPrefix(obj.Key, prefix)] = obj
	}
	return objs, nil
}

// exists reports whether the object key exists, by a listing (see lookUp
// for why not a HEAD).
func (s *S3Store) exists(ctx context.Context, key string) (bool, error) {
	objs, err := s.list(ctx, key)
	if err != nil {
		return false, err
	}
	_, ok := objs[""]
	return ok, nil
}

// Requests lists the request uids that have an object in the bucket: the
// folders under the prefix whose names are shaped like a PrivacyRequest
// UID (the spool is not a request's, and nothing else is taken for one).
func (s *S3Store) Requests(ctx context.Context) ([]string, error) {
	var uids []string
	prefix := s.keyPrefix()
	err := bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
		for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
			if obj.Err != nil {
				return fmt.Errorf("list %s: %w", s.URL(prefix), obj.Err)
			}
			uid, isDir := strings.CutSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
			if isDir && requestUID.MatchString(uid) {
				uids = append(uids, uid)
			}
		}
		return nil
	})
	return uids, err
}

// DeleteOrphan implements Swept: it removes the objects of a request that
// no longer exists only when all of them are what this install writes
// there (parts/<part>.json, export.json, settled, each tagged with the
// install's id). Anything else under the uid, an object of another
// program or of another install sharing the prefix, keeps all of it.
func (s *S3Store) DeleteOrphan(ctx context.Context, uid string) (bool, error) {
	if !requestUID.MatchString(uid) {
		return false, nil
	}
	prefix, err := s.requestPrefix(uid)
	if err != nil {
		return false, err
	}
	deleted := false
	err = bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
		objs, err := s.list(ctx, prefix)
		if err != nil || len(objs) == 0 {
			return err
		}
		for rel := range objs {
			if !ownObject(rel) {
				return nil
			}
			info, err := s.client.StatObject(ctx, s.bucket, prefix+rel, minio.StatObjectOptions{})
			if err != nil {
				return fmt.Errorf("read %s: %w", s.URL(prefix+rel), err)
			}
			if info.UserMetadata[metaInstall] != s.install {
				return nil
			}
		}
		if err := s.remove(ctx, prefix, objs); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	return deleted, err
}

// ownObject reports whether rel, a key under a request's prefix, is one
// the store writes there.
func ownObject(rel string) bool {
	if rel == exportObject || rel == settledMarker {
		return true
	}
	part, ok := strings.CutPrefix(rel, partsDir)
	if !ok {
		return false
	}
	part, ok = strings.CutSuffix(part, ".json")
	return ok && safeName.MatchString(part)
}

// Settle drops a request's parts once its export's reference is stored, so
// that the data is not kept twice until the export expires. A marker takes
// their place first: a pass working from a stale view must not assemble
// (and upload) the export again without them.
func (s *S3Store) Settle(ctx context.Context, uid string) error {
	prefix, err := s.requestPrefix(uid)
	if err != nil {
		return err
	}
	marker := prefix + settledMarker
	return bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
		if _, err := s.client.PutObject(ctx, s.bucket, marker, bytes.NewReader(nil), 0,
			minio.PutObjectOptions{ServerSideEncryption: s.sse, UserMetadata: map[string]string{metaInstall: s.install}}); err != nil {
			return fmt.Errorf("upload %s: %w", s.URL(marker), err)
		}
		return s.removeAll(ctx, prefix+partsDir)
	})
}

// Delete implements Store: every object of the request.
func (s *S3Store) Delete(ctx context.Context, uid string) error {
	prefix, err := s.requestPrefix(uid)
	if err != nil {
		return err
	}
	return bounded(ctx, s.timeouts.Call, func(ctx context.Context) error {
		return s.removeAll(ctx, prefix)
	})
}
