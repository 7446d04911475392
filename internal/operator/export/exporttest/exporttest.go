// Package exporttest gives tests an S3 export store on a real S3 server:
// versitygw on loopback, started by hack/versitygw.sh (built from the Go
// module proxy the first time), or the server named by
// PRIVACY_TEST_S3_ENDPOINT. A test that cannot have it fails; it is never
// skipped.
package exporttest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// The fixed test credentials and bucket of hack/versitygw.sh.
const (
	AccessKey = "privacy-operator-test"
	SecretKey = "privacy-operator-test-secret"
	Bucket    = "privacy-exports-test"
	Region    = "us-east-1"
)

// TB is what the helpers need of a test: *testing.T and GinkgoT() alike.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Endpoint is the test server's URL; the first call starts it.
func Endpoint(t TB) string {
	t.Helper()
	once.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		t.Fatalf("no S3 server for the export tests: %v", startErr)
	}
	return endpoint
}

func start() (string, error) {
	if e := os.Getenv("PRIVACY_TEST_S3_ENDPOINT"); e != "" {
		return e, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "hack", "versitygw.sh"), "start").Output()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return "", fmt.Errorf("hack/versitygw.sh start: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	if err != nil {
		return "", fmt.Errorf("hack/versitygw.sh start: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// moduleRoot is the directory of go.mod above the test's working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Config is the test server's bucket under a prefix of its own, so that
// tests do not see each other's exports.
func Config(t TB) export.S3Config {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return export.S3Config{
		Bucket: Bucket, Prefix: "test-" + hex.EncodeToString(b), Endpoint: Endpoint(t), Region: Region, PathStyle: true,
		Credentials: credentials.NewStaticV4(AccessKey, SecretKey, ""),
	}
}

// Client inspects the test server's bucket.
func Client(t TB) *minio.Client {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(Endpoint(t), "http://"), "https://")
	c, err := minio.New(host, &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: Region, BucketLookup: minio.BucketLookupPath,
		Secure: strings.HasPrefix(Endpoint(t), "https://"),
	})
	if err != nil {
		t.Fatalf("S3 client: %v", err)
	}
	return c
}
