package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/s3conn"
)

// S3 is the operator's export bucket, read with credentials that need
// only s3:GetObject there.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 connects to the bucket.
func NewS3(conn s3conn.Config, bucket string) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("the export bucket is empty")
	}
	c, err := conn.NewClient()
	if err != nil {
		return nil, err
	}
	return &S3{client: c, bucket: bucket}, nil
}

// Open implements Store: the object s3://BUCKET/.../<uid>/export.json that
// status.export locates, in the configured bucket only.
func (s *S3) Open(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest) (io.ReadCloser, error) {
	exp, err := exportOf(pr)
	if err != nil {
		return nil, err
	}
	prefix := "s3://" + s.bucket + "/"
	if !strings.HasPrefix(exp.Location, prefix) {
		return nil, fmt.Errorf("the export is at %s, not in bucket %s", exp.Location, s.bucket)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, strings.TrimPrefix(exp.Location, prefix), minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	// GetObject sends nothing until the first read: ask now, so that a
	// missing object or a refusal is known before the download starts.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, err
	}
	return checked(obj, exp), nil
}
