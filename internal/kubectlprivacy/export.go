package kubectlprivacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/spf13/cobra"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// s3Flags reach an export in S3-compatible storage: status holds only
// s3://bucket/key, not how to reach the server.
type s3Flags struct {
	endpoint, region, caFile string
	pathStyle                bool
}

func newExportCommand(o *options) *cobra.Command {
	var file string
	var s3 s3Flags
	cmd := &cobra.Command{
		Use:   "export REQUEST -o FILE",
		Short: "Fetch an Access request's export into FILE, checked against its sha256",
		Long: "Reads status.export: a path is read from this machine's filesystem (the operator's --export-dir as\n" +
			"mounted here), an s3:// location from the bucket with your own credentials (AWS_ACCESS_KEY_ID,\n" +
			"AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ~/.aws/credentials or the machine's role). FILE is written\n" +
			"with mode 0600, and kept only when its sha256 and size match the status: a mismatch removes it and\n" +
			"exits 2. The export holds the person's data: nothing of it is printed.",
		Example: "  kubectl privacy export access-ada -o ada-export.json\n" +
			"  kubectl privacy export access-ada -o ada-export.json --s3-endpoint https://minio.example:9000 --s3-path-style",
		Args: exactArgs(1, "one PrivacyRequest name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageError(errors.New("-o FILE is required: where to write the export"))
			}
			_, _, pr, err := o.request(cmd, args[0])
			if err != nil {
				return err
			}
			ref := pr.Status.Export
			if ref == nil {
				return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s has no export (only a Completed Access request has one; phase %s)", pr.Name, orDash(string(pr.Status.Phase)))}
			}
			src, err := s3.open(cmd.Context(), ref.Location)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			defer src.Close()
			if err := writeChecked(file, src, ref.SHA256, ref.Bytes); err != nil {
				return &exitError{code: ExitError, err: err}
			}
			fmt.Fprintf(o.streams.Out, "privacyrequest/%s export written to %s (%d bytes, sha256 %s)\n", pr.Name, file, ref.Bytes, ref.SHA256)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "file to write the export to (required; created with mode 0600, never overwritten)")
	cmd.Flags().StringVar(&s3.endpoint, "s3-endpoint", "", "S3 endpoint URL (https://host:port) of an s3:// export; empty: AWS S3")
	cmd.Flags().StringVar(&s3.region, "s3-region", "", "region of the export's bucket")
	cmd.Flags().BoolVar(&s3.pathStyle, "s3-path-style", false, "address the bucket path-style (https://host/bucket/key)")
	cmd.Flags().StringVar(&s3.caFile, "s3-ca-file", "", "PEM file of CA certificates trusted for the S3 endpoint, besides the system's")
	return cmd
}

// open opens the export at location: a file, or an s3://bucket/key object.
func (f s3Flags) open(ctx context.Context, location string) (io.ReadCloser, error) {
	if !strings.HasPrefix(location, "s3://") {
		if strings.Contains(location, "://") {
			return nil, fmt.Errorf("export location %s: want a path or an s3:// URL", location)
		}
		if f != (s3Flags{}) {
			return nil, errors.New("the --s3-* flags are for an s3:// export; this one is a path")
		}
		file, err := os.Open(location)
		if err != nil {
			return nil, fmt.Errorf("read the export (the operator's --export-dir must be mounted at the same path here): %w", err)
		}
		return file, nil
	}
	u, err := url.Parse(location)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("export location %s: want s3://bucket/key", location)
	}
	key := strings.TrimPrefix(u.Path, "/")
	prefix := path.Dir(key)
	if prefix == "." {
		prefix = key
	}
	// The same client the operator's export store uses, with the caller's
	// credentials (the SDK's default chain).
	client, err := export.S3Config{
		Bucket: u.Host, Prefix: prefix, Endpoint: f.endpoint, Region: f.region, PathStyle: f.pathStyle, CAFile: f.caFile,
	}.NewClient()
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	obj, err := client.GetObject(ctx, u.Host, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", location, err)
	}
	// GetObject is lazy: Stat surfaces a missing object or a refusal now.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("get %s: %w", location, err)
	}
	return obj, nil
}

// writeChecked copies src into a new file (0600) and keeps it only when
// its sha256 and size are the ones given; otherwise it removes it. An
// existing file is never overwritten.
func writeChecked(file string, src io.Reader, wantSHA256 string, wantBytes int64) (err error) {
	out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create the output file: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			_ = os.Remove(file)
		}
	}()
	h := sha256.New()
	// One byte more than expected reveals an export longer than its status says.
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(src, wantBytes+1))
	if err != nil {
		return fmt.Errorf("copy the export: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 || n != wantBytes {
		return fmt.Errorf("the export does not match its status (sha256 %s, %d bytes; status says sha256 %s, %d bytes): refused, %s removed",
			got, n, wantSHA256, wantBytes, file)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("write the output file: %w", err)
	}
	return out.Close()
}
