package privacyctl

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// storeFlags say where the receipts are: a directory (the operator's
// --receipt-dir, or a copy of the bucket's objects) or the bucket itself.
type storeFlags struct {
	dir, url string
	s3       export.S3Config
}

func (s *storeFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "dir", "", "directory of the receipt log (it holds receipts/)")
	fs.StringVar(&s.url, "url", "", "the receipt log in S3-compatible storage: s3://bucket/prefix[?endpoint=...&region=...&pathStyle=true&caFile=...], "+
		"credentials from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), ~/.aws/credentials or the machine's role")
	fs.StringVar(&s.s3.Endpoint, "s3-endpoint", "", "S3 endpoint URL (https://host:port); empty: AWS S3")
	fs.StringVar(&s.s3.Region, "s3-region", "", "region of the bucket")
	fs.BoolVar(&s.s3.PathStyle, "s3-path-style", false, "address the bucket path-style (https://host/bucket/key)")
	fs.StringVar(&s.s3.CAFile, "s3-ca-file", "", "PEM file of CA certificates trusted for the S3 endpoint, besides the system's")
}

// open is the store the flags name.
func (s *storeFlags) open() (receipt.Store, error) {
	switch {
	case (s.dir == "") == (s.url == ""):
		return nil, errors.New("give one of --dir and --url")
	case s.dir != "":
		if s.s3 != (export.S3Config{}) {
			return nil, errors.New("the --s3-* flags go with --url")
		}
		// A mistyped directory must not verify as an empty log.
		if _, err := os.Stat(filepath.Join(s.dir, "receipts")); err != nil {
			return nil, fmt.Errorf("--dir holds no receipt log (no receipts/ folder): %w", pathless(err))
		}
		return receipt.NewDirStore(s.dir)
	}
	cfg, err := receipt.ParseURL(s.url, s.s3)
	if err != nil {
		// ParseURL's errors quote parts of the URL.
		return nil, errors.New("--url is not a receipt log's URL: want s3://bucket/prefix[?endpoint=...&region=...&pathStyle=true&caFile=...] " +
			"(the value given is not shown)")
	}
	return receipt.NewS3Store(cfg)
}

// readFile reads the file a flag names. Its error says what went wrong,
// without the path: that is the flag's value, and never printed.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, pathless(err)
	}
	return data, nil
}

// pathless is err without the path a file operation quotes.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot %s the file: %w", pe.Op, pe.Err)
	}
	return err
}
