package receipt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
)

// s3Store is an S3Store on the test server, under a fresh prefix, listing
// three names per request so that paging is exercised.
func s3Store(t testing.TB) *S3Store {
	t.Helper()
	s, err := NewS3Store(exporttest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	s.page = 3
	return s
}

// stores runs a test against each kind of store.
func stores(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("dir", func(t *testing.T) { test(t, dirStore(t)) })
	t.Run("s3", func(t *testing.T) { test(t, s3Store(t)) })
}

func TestStoreCreateGetListDelete(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if _, err := s.Get(ctx, Name(1)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get of a missing object: %v, want ErrNotFound", err)
		}
		for i := uint64(1); i <= 7; i++ {
			if err := s.Create(ctx, Name(i), []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		if err := s.Create(ctx, Name(3), []byte("other")); !errors.Is(err, ErrExists) {
			t.Fatalf("create of a taken name: %v, want ErrExists", err)
		}
		if got := mustGet(t, s, Name(3)); string(got) != `{"n":3}` {
			t.Fatalf("a refused create changed the object: %s", got)
		}
		if err := s.Put(ctx, HeadName, []byte("1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, HeadName, []byte("2")); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, HeadName); string(got) != "2" {
			t.Fatalf("HEAD after two puts: %q", got)
		}

		all, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{Name(1), Name(2), Name(3), Name(4), Name(5), Name(6), Name(7), HeadName}
		if strings.Join(all, " ") != strings.Join(want, " ") {
			t.Fatalf("list:\n got %v\nwant %v", all, want)
		}
		after, err := s.List(ctx, Name(4))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(after, " ") != strings.Join(want[4:], " ") {
			t.Fatalf("list after 4: %v", after)
		}

		if err := s.Delete(ctx, Name(2)); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, Name(2)); err != nil {
			t.Fatalf("delete of a missing object: %v", err)
		}
		if _, err := s.Get(ctx, Name(2)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if err := s.Create(ctx, "../escape", nil); err == nil {
			t.Fatal("a name outside the layout was accepted")
		}
	})
}

// Two writers creating the same name at once: exactly one wins, and the
// object is the winner's, whole.
func TestStoreCreateIsExclusive(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for round := uint64(1); round <= 5; round++ {
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for w := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[w] = s.Create(ctx, Name(round), bytes.Repeat([]byte{byte('a' + w)}, 4096))
				}()
			}
			wg.Wait()
			won := -1
			for w, err := range errs {
				switch {
				case err == nil && won >= 0:
					t.Fatalf("round %d: writers %d and %d both created the object", round, won, w)
				case err == nil:
					won = w
				case !errors.Is(err, ErrExists):
					t.Fatalf("round %d: writer %d: %v", round, w, err)
				}
			}
			if won < 0 {
				t.Fatalf("round %d: no writer won", round)
			}
			if got := mustGet(t, s, Name(round)); !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + won)}, 4096)) {
				t.Fatalf("round %d: the object is not the winner's", round)
			}
		}
	})
}

func TestDirStoreLeavesNoTemporaryFile(t *testing.T) {
	s := dirStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, Name(1), []byte("a")); err != nil {
		t.Fatal(err)
	}
	_ = s.Create(ctx, Name(1), []byte("b"))
	if err := s.Put(ctx, HeadName, []byte("h")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(s.root, receiptsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "00000000000000000001.json HEAD" {
		t.Fatalf("files: %v", names)
	}
	if got := s.Location(Name(1)); got != filepath.Join(s.root, "receipts", "00000000000000000001.json") {
		t.Fatalf("location %s", got)
	}
}

// The S3 store's objects carry the install tag and the SHA-256 checksum,
// and its location is the s3:// URL.
func TestS3StoreObjects(t *testing.T) {
	cfg := exporttest.Config(t)
	s, err := NewS3Store(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Create(ctx, Name(1), []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	info, err := exporttest.Client(t).StatObject(ctx, cfg.Bucket, cfg.Prefix+"/"+Name(1), minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.UserMetadata[metaInstall] != cfg.Prefix {
		t.Errorf("install tag %q, want %q", info.UserMetadata[metaInstall], cfg.Prefix)
	}
	if info.ChecksumSHA256 == "" {
		t.Error("no SHA-256 checksum on the object")
	}
	if want := "s3://" + cfg.Bucket + "/" + cfg.Prefix + "/" + Name(1); s.Location(Name(1)) != want {
		t.Errorf("location %s, want %s", s.Location(Name(1)), want)
	}
}

func TestParseURL(t *testing.T) {
	cfg, err := ParseURL("s3://bucket/receipts/prod?region=eu-west-1&pathStyle=true", export.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bucket != "bucket" || cfg.Prefix != "receipts/prod" || cfg.Region != "eu-west-1" || !cfg.PathStyle {
		t.Fatalf("parsed %+v", cfg)
	}
	for _, bad := range []string{"s3://bucket", "s3://bucket/", "https://bucket/p", "s3://bucket/p?nope=1"} {
		if _, err := ParseURL(bad, export.S3Config{}); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// TestStoreReplayDir: both stores keep sealed replay records under
// replay/<period>/ beside the log, list a directory of them in order,
// leave them out of the log's listing, and refuse names outside the
// layout.
func TestStoreReplayDir(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		lister := s.(DirLister)
		names := []string{
			"replay/2026-12-02/00001796000000000000-shop_orders_pr-3.sealed",
			"replay/2026-12-01/00001795900000000000-shop_orders_pr-1.sealed",
			"replay/2026-12-01/00001795950000000000-crm_contacts_pr-2.sealed",
		}
		for _, n := range names {
			if err := s.Create(ctx, n, []byte("sealed")); err != nil {
				t.Fatalf("create %s: %v", n, err)
			}
		}
		if err := s.Create(ctx, Name(1), []byte("{}")); err != nil {
			t.Fatal(err)
		}
		all, err := lister.ListDir(ctx, ReplayDir, "")
		if err != nil || !slices.Equal(all, []string{names[1], names[2], names[0]}) {
			t.Fatalf("replay/: %q, %v", all, err)
		}
		day, err := lister.ListDir(ctx, ReplayDir+"2026-12-01/", names[1])
		if err != nil || !slices.Equal(day, []string{names[2]}) {
			t.Fatalf("replay/2026-12-01/ after the first: %q, %v", day, err)
		}
		log, err := s.List(ctx, "")
		if err != nil || !slices.Equal(log, []string{Name(1)}) {
			t.Fatalf("the log's listing: %q, %v, want the receipt alone", log, err)
		}
		for _, bad := range []string{"replay/2026-12-01/../../etc", "replay/x/1-a_b_c.sealed", "replay/2026-12-01/00001795900000000000-Shop_o_p.sealed"} {
			if err := s.Create(ctx, bad, []byte("x")); err == nil {
				t.Errorf("name %q accepted", bad)
			}
		}
		if _, err := lister.ListDir(ctx, "replay/../", ""); err == nil {
			t.Error("a directory reaching up was listed")
		}
	})
}
