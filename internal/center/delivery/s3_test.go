package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
	"github.com/privacyoperator/privacy-operator/internal/s3conn"
)

// TestS3: the center reads an export from the operator's bucket on a real
// S3 server (versitygw), checked against status.export; what it does not
// match, and objects outside the bucket, are refused.
func TestS3(t *testing.T) {
	ctx := context.Background()
	uid := "6f1c2d3e-0000-4000-8000-000000000001"
	key := "test-center/" + uid + "/export.json"
	doc := []byte(`{"manifest":{"sources":[]},"data":{}}`)
	put := func(body []byte) {
		t.Helper()
		if _, err := exporttest.Client(t).PutObject(ctx, exporttest.Bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(doc)
	sum := sha256.Sum256(doc)
	pr := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{Name: "access-1", UID: types.UID(uid)}}
	pr.Status.Export = &privacyv1alpha1.ExportReference{Location: "s3://" + exporttest.Bucket + "/" + key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(doc))}

	store, err := delivery.NewS3(s3conn.Config{Endpoint: exporttest.Endpoint(t), Region: exporttest.Region, PathStyle: true,
		Credentials: credentials.NewStaticV4(exporttest.AccessKey, exporttest.SecretKey, "")}, exporttest.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	read := func() ([]byte, error) {
		r, err := store.Open(ctx, pr)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	if got, err := read(); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("read %q, %v", got, err)
	}

	put(bytes.Replace(doc, []byte("data"), []byte("data"[:3]+"A"), 1))
	if _, err := read(); !errors.Is(err, delivery.ErrChecksum) {
		t.Fatalf("a changed object: %v, want ErrChecksum", err)
	}

	other := pr.DeepCopy()
	other.Status.Export.Location = "s3://elsewhere/" + key
	if _, err := store.Open(ctx, other); err == nil {
		t.Fatal("an export outside the bucket was opened")
	}
	other.Status.Export.Location = "s3://" + exporttest.Bucket + "/test-center/another-uid/export.json"
	if _, err := store.Open(ctx, other); err == nil {
		t.Fatal("another request's export was opened")
	}
}
