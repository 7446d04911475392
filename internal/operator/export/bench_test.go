package export_test

import (
	"context"
	"testing"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
)

// BenchmarkS3Export16MiB writes a 16 MiB Access export to the S3 server of
// the tests (versitygw on loopback, over the local disk): assembled from
// its part, read from the bucket, uploaded in one PUT whose SHA-256 the
// server checks, and checked again after the upload. MiB/s is the
// export's throughput (the part's own upload is not timed).
func BenchmarkS3Export16MiB(b *testing.B) {
	benchmarkExport(b, newS3Store(b, exporttest.Config(b)))
}

// BenchmarkDirExport16MiB is the same export in a directory, for comparison.
func BenchmarkDirExport16MiB(b *testing.B) {
	benchmarkExport(b, export.DirStore{Dir: b.TempDir()})
}

func benchmarkExport(b *testing.B, s export.Store) {
	ctx := context.Background()
	if err := s.WritePart(ctx, "uid-1", export.PartName("shop", "billing"), jsonOfSize(16<<20)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Delete(ctx, "uid-1") })
	var bytes int64
	for b.Loop() {
		ref, err := s.Assemble(ctx, testManifest("uid-1"))
		if err != nil {
			b.Fatal(err)
		}
		bytes = ref.Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
}
