package export_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
)

// store is one Store under test, with its spool and a way to read what it
// wrote.
type store struct {
	spooled
	// read returns the export at ref, or an error wrapping fs.ErrNotExist
	// when there is none.
	read func(t *testing.T, ref export.Ref) ([]byte, error)
	// plant writes a file (or object) the store did not write, at path
	// rel under its directory (or prefix).
	plant func(t *testing.T, rel string)
}

// eachStore runs fn against a DirStore and an S3Store on the test server.
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, store{spooled: export.DirStore{Dir: dir}, read: func(_ *testing.T, ref export.Ref) ([]byte, error) {
			return os.ReadFile(ref.Location)
		}, plant: func(t *testing.T, rel string) {
			t.Helper()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, rel, "not the operator's")
		}})
	})
	t.Run("s3", func(t *testing.T) {
		cfg := exporttest.Config(t)
		fn(t, store{spooled: newS3Store(t, cfg), read: readObject, plant: func(t *testing.T, rel string) {
			t.Helper()
			putObject(t, cfg, cfg.Prefix+"/"+rel, "not the operator's")
		}})
	})
}

type spooled interface {
	export.Swept
	Put(jobID string, data []byte) (string, error)
}

func newS3Store(t testing.TB, cfg export.S3Config) *export.S3Store {
	t.Helper()
	s, err := export.NewS3Store(export.DirStore{Dir: t.TempDir()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readObject reads an s3:// location from the test server.
func readObject(t *testing.T, ref export.Ref) ([]byte, error) {
	t.Helper()
	bucket, key, ok := strings.Cut(strings.TrimPrefix(ref.Location, "s3://"), "/")
	if !ok || !strings.HasPrefix(ref.Location, "s3://") {
		t.Fatalf("location %q is not s3://bucket/key", ref.Location)
	}
	obj, err := exporttest.Client(t).GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil, errors.Join(fs.ErrNotExist, err)
	}
	return data, err
}

func testManifest(uid string) export.Manifest {
	return export.Manifest{Request: "access-ada", UID: uid, CreatedAt: time.Unix(0, 0).UTC(), Sources: []export.Source{
		{Namespace: "shop", Name: "billing", Status: "Completed", Records: 2},
		{Namespace: "crm", Name: "contacts", Status: "NotFound"},
	}}
}

func TestAssemble(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		part := []byte(`{"orders":[1,2]}`)
		if err := s.WritePart(ctx, "uid-1", export.PartName("shop", "billing"), part); err != nil {
			t.Fatal(err)
		}
		partSum := sha256.Sum256(part)
		m := testManifest("uid-1")
		ref, err := s.Assemble(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.read(t, ref)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Bytes != int64(len(data)) {
			t.Errorf("ref %+v does not describe the export (%d bytes)", ref, len(data))
		}
		var doc struct {
			Manifest export.Manifest            `json:"manifest"`
			Data     map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("export is not JSON: %v\n%s", err, data)
		}
		if string(doc.Data["shop/billing"]) != `{"orders":[1,2]}` || len(doc.Data) != 1 || len(doc.Manifest.Sources) != 2 {
			t.Errorf("export = %s", data)
		}
		if got := doc.Manifest.Sources[0]; got.SHA256 != hex.EncodeToString(partSum[:]) || got.Bytes != int64(len(part)) {
			t.Errorf("manifest entry %+v does not describe the part", got)
		}
		if got := doc.Manifest.Sources[1]; got.SHA256 != "" || got.Bytes != 0 {
			t.Errorf("manifest entry of a source without data: %+v", got)
		}
		again, err := s.Assemble(ctx, m)
		if err != nil || again.SHA256 != ref.SHA256 {
			t.Errorf("assembling again (a retried pass) gave %+v, %v; want the same export %s", again, err, ref.SHA256)
		}
		if err := s.Delete(ctx, "uid-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.read(t, ref); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("export still readable after Delete: %v", err)
		}
		if uids, err := s.Requests(ctx); err != nil || len(uids) != 0 {
			t.Errorf("after Delete, Requests = %v, %v; want none", uids, err)
		}
	})
}

// writeAndAssemble files the part testManifest expects and assembles the
// export.
func writeAndAssemble(ctx context.Context, s export.Store, uid string) (export.Ref, error) {
	if err := s.WritePart(ctx, uid, export.PartName("shop", "billing"), []byte(`{"orders":[1]}`)); err != nil {
		return export.Ref{}, err
	}
	return s.Assemble(ctx, testManifest(uid))
}

func TestDirStoreLayout(t *testing.T) {
	ctx := context.Background()
	s := export.DirStore{Dir: t.TempDir()}
	ref, err := writeAndAssemble(ctx, s, "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Location != s.Dir+"/uid-1/export.json" {
		t.Errorf("location = %s", ref.Location)
	}
	if info, _ := os.Stat(ref.Location); info.Mode().Perm() != 0o600 {
		t.Errorf("export mode = %v, want 0600", info.Mode().Perm())
	}
}

func TestRefusesUnsafeNames(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		if err := s.WritePart(ctx, "../etc", "x", []byte("{}")); err == nil {
			t.Error("WritePart accepted a path-traversing uid")
		}
		if err := s.WritePart(ctx, "uid", "a/b", []byte("{}")); err == nil {
			t.Error("WritePart accepted a path-traversing part")
		}
		if err := s.WritePart(ctx, "uid", "ok", []byte("not json")); err == nil {
			t.Error("WritePart accepted data that is not JSON")
		}
		if _, err := s.Assemble(ctx, export.Manifest{UID: "../etc"}); err == nil {
			t.Error("Assemble accepted a path-traversing uid")
		}
		if err := s.Delete(ctx, "../etc"); err == nil {
			t.Error("Delete accepted a path-traversing uid")
		}
	})
}

// Request uids as the API server makes them.
const (
	staged  = "5f0c1b2a-3d4e-4f60-8a1b-2c3d4e5f6a7b"
	written = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
)

// Only names shaped like a PrivacyRequest's UID are taken for requests:
// the sweep deletes what Requests lists when no such request exists.
func TestRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		if err := s.WritePart(ctx, staged, "a_b", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := writeAndAssemble(ctx, s, written); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("pr-test", []byte(`{"spooled":true}`)); err != nil {
			t.Fatal(err)
		}
		// Not a request's, whatever it holds: another program's folder, or
		// a store written with a uid that the API server never makes.
		s.plant(t, "backups/db.dump")
		if _, err := writeAndAssemble(ctx, s, "uid-1"); err != nil {
			t.Fatal(err)
		}
		uids, err := s.Requests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(uids) != 2 || !contains(uids, staged) || !contains(uids, written) {
			t.Errorf("Requests = %v, want %s and %s (not the spool, not backups, not uid-1)", uids, staged, written)
		}
	})
}

// The sweep removes a request's folder only when all of it is what the
// store wrote: a folder named like a request that holds anything else, or
// that is not named like one, stays whole.
func TestDeleteOrphan(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		foreign := "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		for _, uid := range []string{staged, written, foreign} {
			if _, err := writeAndAssemble(ctx, s, uid); err != nil {
				t.Fatal(err)
			}
		}
		s.plant(t, foreign+"/notes.txt")
		s.plant(t, "backups/db.dump")
		for uid, want := range map[string]bool{staged: true, foreign: false, "backups": false, "uid-1": false} {
			deleted, err := s.DeleteOrphan(ctx, uid)
			if err != nil || deleted != want {
				t.Errorf("DeleteOrphan(%s) = %v, %v; want %v", uid, deleted, err, want)
			}
		}
		uids, err := s.Requests(ctx)
		if err != nil || len(uids) != 2 || !contains(uids, written) || !contains(uids, foreign) {
			t.Errorf("Requests after the sweep = %v, %v; want %s and %s (with a file the store did not write)", uids, err, written, foreign)
		}
		if err := s.Delete(ctx, written); err != nil {
			t.Fatal(err)
		}
		if deleted, err := s.DeleteOrphan(ctx, written); deleted || err != nil {
			t.Errorf("DeleteOrphan of a request with nothing stored = %v, %v; want false", deleted, err)
		}
	})
}

// Assembling again (a pass from a stale view after the export was
// recorded) gives the same bytes: the createdAt of the export written
// first is kept, so the sha256 in status stays true.
func TestAssembleAgainSameBytes(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		first, err := writeAndAssemble(ctx, s, "uid-1")
		if err != nil {
			t.Fatal(err)
		}
		m := testManifest("uid-1")
		m.CreatedAt = m.CreatedAt.Add(time.Hour)
		again, err := s.Assemble(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.read(t, again)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if again.SHA256 != first.SHA256 || hex.EncodeToString(sum[:]) != first.SHA256 {
			t.Errorf("assembled again at a later time: sha256 %s (object %x), first %s; want the same bytes", again.SHA256, sum, first.SHA256)
		}
		if err := s.Delete(ctx, "uid-1"); err != nil {
			t.Fatal(err)
		}
		fresh, err := writeAndAssemble(ctx, s, "uid-1")
		if err != nil || fresh.SHA256 != first.SHA256 {
			t.Errorf("after Delete, an export of the same parts and time = %+v, %v; want %s", fresh, err, first.SHA256)
		}
		if next, err := s.Assemble(ctx, m); err != nil || next.SHA256 != first.SHA256 {
			t.Errorf("once more with a later time: %+v, %v; want %s", next, err, first.SHA256)
		}
	})
}

// A source that completed with records must have its part in the export:
// when the part is missing (lost with a replica's disk, say), both stores
// refuse to assemble and name the source, and write nothing.
func TestAssembleMissingPart(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		m := testManifest(staged)
		m.Sources = append(m.Sources, export.Source{Namespace: "shop", Name: "empty", Status: "Completed"})
		ref, err := s.Assemble(ctx, m)
		if !errors.Is(err, export.ErrMissingPart) || !strings.Contains(err.Error(), "shop/billing") {
			t.Fatalf("Assemble without the part of shop/billing: %+v, %v; want ErrMissingPart naming shop/billing", ref, err)
		}
		if uids, err := s.Requests(ctx); err != nil || contains(uids, staged) {
			t.Errorf("an export was written without the part: Requests = %v, %v", uids, err)
		}
		// A source that completed with no records, or found nothing,
		// needs no part.
		ref, err = writeAndAssemble(ctx, s, staged)
		if err != nil {
			t.Fatalf("Assemble with the part: %v", err)
		}
		if data, err := s.read(t, ref); err != nil || !strings.Contains(string(data), `"data":{"shop/billing":{"orders":[1]}}`) {
			t.Errorf("export = %s, %v", data, err)
		}
	})
}

// Spooled data is filed by AdoptPart, which removes the spool file; a
// retried pass adopting the same file again keeps the part.
func TestAdoptPart(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		file, err := s.Put("pr-test", []byte(`{"orders":[1]}`))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.AdoptPart(ctx, "uid-1", export.PartName("shop", "billing"), file); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("spool file still there after AdoptPart: %v", err)
			}
		}
		if err := s.AdoptPart(ctx, "uid-1", export.PartName("shop", "billing"), "/etc/passwd"); err == nil {
			t.Error("AdoptPart took a file outside the spool")
		}
		ref, err := s.Assemble(ctx, testManifest("uid-1"))
		if err != nil {
			t.Fatal(err)
		}
		if data, err := s.read(t, ref); err != nil || !strings.Contains(string(data), `"shop/billing":{"orders":[1]}`) {
			t.Errorf("export = %s, %v", data, err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// putObject writes an object of the test server's bucket as another
// program would, without the operator's tags.
func putObject(t *testing.T, cfg export.S3Config, key, body string) {
	t.Helper()
	if _, err := exporttest.Client(t).PutObject(context.Background(), cfg.Bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
