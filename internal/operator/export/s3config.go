package export

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/privacyoperator/privacy-operator/internal/s3conn"
)

// S3Config says where exports go in S3-compatible object storage: an
// s3://bucket/prefix URL whose query may set the fields below by their URL
// parameter names, or flags (BindFlags) for the same fields.
type S3Config struct {
	Bucket string
	// Prefix of the keys, without leading or trailing slashes. Required:
	// the export sweep deletes what it finds under it for requests that no
	// longer exist, so it must belong to this install only.
	Prefix string
	// InstallID tags every object the operator writes (user metadata
	// x-amz-meta-privacy-operator-install); the sweep deletes only objects
	// that carry it. Empty: the prefix. URL parameter "installID".
	InstallID string
	// Endpoint is the server's URL, https://host[:port] (or http:// on a
	// trusted network); empty: AWS S3 in Region. URL parameter "endpoint".
	Endpoint string
	// Region of the bucket; empty lets the client ask the server. URL
	// parameter "region".
	Region string
	// PathStyle addresses the bucket as https://host/bucket/key instead of
	// https://bucket.host/key; without it the client chooses (virtual
	// hosts for AWS, paths elsewhere). URL parameter "pathStyle".
	PathStyle bool
	// CAFile holds PEM certificates trusted for the endpoint besides the
	// system's. URL parameter "caFile".
	CAFile string
	// SSE asks for server-side encryption: "AES256" (keys managed by S3)
	// or "aws:kms" (with SSEKMSKeyID, or the bucket's default KMS key).
	// URL parameters "sse" and "sseKMSKeyID".
	SSE, SSEKMSKeyID string
	// CredentialsDir is a mounted Secret with the keys AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, read again
	// every minute (rotation). Empty: the SDK's default chain (environment,
	// shared credentials file, web identity / IRSA, EKS Pod Identity, ECS,
	// EC2 instance profile). URL parameter "credentialsDir".
	CredentialsDir string
	// Credentials, when set, replace both (tests).
	Credentials *credentials.Credentials
	// MaxRetries bounds the client's own retries of a failed request
	// (default 3): the export step is retried by the reconciler anyway.
	MaxRetries int
	// Timeouts bound each store call's exchanges with the server.
	Timeouts Timeouts
}

// Timeouts bound the S3 exchanges of one store call: the calls run on the
// PrivacyRequest reconcile workers, and a bucket that never answers must
// not hold them. A call that runs out fails like any other (the step is
// retried with backoff, nothing is lost). Zero fields take the defaults.
type Timeouts struct {
	// Call bounds filing a part, Settle, Delete, the sweep's calls and
	// the look-ups before an assembly; default 30 s.
	Call time.Duration
	// Assemble bounds streaming the parts into an export, its upload and
	// its check; default 2 min.
	Assemble time.Duration
	// PerMiB is added to either for each MiB of data the call moves (a
	// part, the sum of an export's parts); default 1 s.
	PerMiB time.Duration
	// Max caps every call; default 15 min.
	Max time.Duration
}

// withDefaults fills in the zero fields.
func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Call, 30*time.Second)
	def(&t.Assemble, 2*time.Minute)
	def(&t.PerMiB, time.Second)
	def(&t.Max, 15*time.Minute)
	return t
}

// forCall is the time a call that starts from base and moves n bytes gets.
func (t Timeouts) forCall(base time.Duration, n int64) time.Duration {
	d := base + time.Duration(n>>20)*t.PerMiB
	if d > t.Max || d < 0 {
		return t.Max
	}
	return d
}

// errPrefixNeeded refuses an export URL without a prefix: the sweep would
// take every folder of the bucket for a request's.
var errPrefixNeeded = errors.New("--export-url needs a prefix that belongs to this install only, e.g. s3://bucket/privacy-exports: " +
	"the hourly sweep deletes what it finds there for requests that no longer exist")

// BindFlags registers the --export-s3-* flags, which fill c. Parameters in
// --export-url may set the same fields; where both are given, they must agree.
func (c *S3Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "export-s3-endpoint", "", "S3 endpoint URL for --export-url (https://host:port); empty: AWS S3")
	fs.StringVar(&c.Region, "export-s3-region", "", "region of the --export-url bucket")
	fs.BoolVar(&c.PathStyle, "export-s3-path-style", false, "address the --export-url bucket path-style (https://host/bucket/key)")
	fs.StringVar(&c.CAFile, "export-s3-ca-file", "", "PEM file of CA certificates trusted for the S3 endpoint, besides the system's")
	fs.StringVar(&c.SSE, "export-s3-sse", "", `server-side encryption of exports: "AES256" or "aws:kms"`)
	fs.StringVar(&c.SSEKMSKeyID, "export-s3-sse-kms-key-id", "", "KMS key for --export-s3-sse=aws:kms; empty: the bucket's default")
	fs.StringVar(&c.CredentialsDir, "export-s3-credentials-dir", "",
		"directory (a mounted Secret) with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; empty: environment, then workload identity")
	fs.StringVar(&c.InstallID, "export-s3-install-id", "",
		"tag on every object the operator writes under the --export-url prefix; the export sweep deletes only objects with it. Empty: the prefix")
}

// ParseS3URL reads an s3://bucket/prefix URL with optional parameters
// (endpoint, region, pathStyle, caFile, sse, sseKMSKeyID, credentialsDir,
// installID) over the settings in flags. The prefix is required.
func ParseS3URL(raw string, flags S3Config) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return S3Config{}, fmt.Errorf("export URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return S3Config{}, errors.New("export URL must be s3://bucket[/prefix][?parameters]")
	}
	c := flags
	c.Bucket = u.Host
	c.Prefix = strings.Trim(u.Path, "/")
	q := u.Query()
	for name := range q {
		if err := c.set(name, q.Get(name)); err != nil {
			return S3Config{}, fmt.Errorf("export URL parameter %s: %w", name, err)
		}
	}
	return c, c.validate()
}

// set applies one URL parameter; a flag that set the field already must
// say the same.
func (c *S3Config) set(name, value string) error {
	fields := map[string]*string{
		"endpoint": &c.Endpoint, "region": &c.Region, "caFile": &c.CAFile,
		"sse": &c.SSE, "sseKMSKeyID": &c.SSEKMSKeyID, "credentialsDir": &c.CredentialsDir,
		"installID": &c.InstallID,
	}
	if name == "pathStyle" {
		v, err := strconv.ParseBool(value)
		if err != nil {
			return err
		}
		if c.PathStyle && !v {
			return errors.New("contradicts --export-s3-path-style")
		}
		c.PathStyle = v
		return nil
	}
	field, ok := fields[name]
	if !ok {
		return errors.New("unknown (known: endpoint, region, pathStyle, caFile, sse, sseKMSKeyID, credentialsDir, installID)")
	}
	if *field != "" && *field != value {
		return fmt.Errorf("%q contradicts the flag's %q", value, *field)
	}
	*field = value
	return nil
}

func (c S3Config) validate() error {
	if c.Bucket == "" {
		return errors.New("export bucket is empty")
	}
	if strings.Trim(c.Prefix, "/") == "" {
		return errPrefixNeeded
	}
	if id := c.installID(); !printableASCII.MatchString(id) {
		return fmt.Errorf("install id %q (installID, by default the prefix) must be up to 256 printable ASCII characters: it is sent as object metadata", id)
	}
	if _, err := c.serverSide(); err != nil {
		return err
	}
	_, _, err := c.endpoint()
	return err
}

// InstallTag is the value of the install's tag on every object it writes
// (user metadata x-amz-meta-privacy-operator-install): InstallID, or the
// prefix when it is empty.
func (c S3Config) InstallTag() string { return c.installID() }

// installID is InstallID, or the prefix when it is empty.
func (c S3Config) installID() string {
	if c.InstallID != "" {
		return c.InstallID
	}
	return c.Prefix
}

var printableASCII = regexp.MustCompile(`^[!-~]([ -~]{0,254}[!-~])?$`)

// endpoint is the client's host[:port] and whether it speaks TLS.
func (c S3Config) endpoint() (string, bool, error) { return c.conn().Host() }

// conn is how the client reaches the server.
func (c S3Config) conn() s3conn.Config {
	return s3conn.Config{Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle, CAFile: c.CAFile,
		CredentialsDir: c.CredentialsDir, Credentials: c.Credentials, MaxRetries: c.MaxRetries}
}

// ServerSide is the server-side encryption the SSE fields ask for; nil
// for none.
func (c S3Config) ServerSide() (encrypt.ServerSide, error) { return c.serverSide() }

func (c S3Config) serverSide() (encrypt.ServerSide, error) {
	switch c.SSE {
	case "":
		if c.SSEKMSKeyID != "" {
			return nil, errors.New("an SSE KMS key id needs sse=aws:kms")
		}
		return nil, nil
	case "AES256":
		if c.SSEKMSKeyID != "" {
			return nil, errors.New("an SSE KMS key id needs sse=aws:kms, not AES256")
		}
		return encrypt.NewSSE(), nil
	case "aws:kms":
		return encrypt.NewSSEKMS(c.SSEKMSKeyID, nil)
	}
	return nil, fmt.Errorf(`server-side encryption %q: want "AES256" or "aws:kms"`, c.SSE)
}

// client builds the export store's S3 client.
func (c S3Config) client() (*minio.Client, error) { return c.NewClient() }

// NewClient validates c and builds its S3 client: the endpoint, CA file,
// addressing and credentials as the export store uses them, for the other
// stores that keep objects in a bucket (the receipt log).
func (c S3Config) NewClient() (*minio.Client, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.conn().NewClient()
}

// bounded runs fn with a context that ends after d, and says so in the
// error when that is why fn failed.
func bounded(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (the S3 server did not finish within %s)", err, d)
	}
	return err
}
