// Package s3conn connects to an S3-compatible server: the endpoint, the CA
// to trust, the addressing style and the credentials, as both the operator
// (its export and receipt stores) and the privacy center (which reads
// exports to deliver them) configure them. It holds no store logic.
package s3conn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says how to reach the server.
type Config struct {
	// Endpoint is the server's URL, https://host[:port] (or http:// on a
	// trusted network); empty: AWS S3 in Region.
	Endpoint string
	// Region of the bucket; empty lets the client ask the server.
	Region string
	// PathStyle addresses the bucket as https://host/bucket/key instead of
	// https://bucket.host/key; without it the client chooses (virtual
	// hosts for AWS, paths elsewhere).
	PathStyle bool
	// CAFile holds PEM certificates trusted for the endpoint besides the
	// system's.
	CAFile string
	// CredentialsDir is a mounted Secret with the keys AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, read again
	// every minute (rotation). Empty: the SDK's default chain (environment,
	// shared credentials file, web identity / IRSA, EKS Pod Identity, ECS,
	// EC2 instance profile).
	CredentialsDir string
	// Credentials, when set, replace both (tests).
	Credentials *credentials.Credentials
	// MaxRetries bounds the client's own retries of a failed request
	// (default 3).
	MaxRetries int
}

// Host is the client's host[:port] and whether it speaks TLS.
func (c Config) Host() (string, bool, error) {
	if c.Endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return "", false, fmt.Errorf("S3 endpoint: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("S3 endpoint %q must be https://host[:port] (or http://)", c.Endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// NewClient builds the client.
func (c Config) NewClient() (*minio.Client, error) {
	host, secure, err := c.Host()
	if err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("S3 CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("S3 CA file %s holds no PEM certificate", c.CAFile)
		}
		if transport.TLSClientConfig == nil {
			return nil, errors.New("an S3 CA file needs an https endpoint")
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	retries := c.MaxRetries
	if retries <= 0 {
		retries = 3
	}
	return minio.New(host, &minio.Options{
		Creds: c.credentials(), Secure: secure, Transport: transport, Region: c.Region,
		BucketLookup: lookup, MaxRetries: retries,
	})
}

// credentials are the fixed ones (tests), the mounted Secret's, or the
// SDK's chain: the environment (AWS_ and MINIO_ variables), the shared
// credentials file, then the workload's identity (web identity token /
// IRSA, EKS Pod Identity or ECS, EC2 instance profile).
func (c Config) credentials() *credentials.Credentials {
	switch {
	case c.Credentials != nil:
		return c.Credentials
	case c.CredentialsDir != "":
		return credentials.New(&dirCredentials{dir: c.CredentialsDir})
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
	})
}

// dirCredentials reads the keys of a mounted Secret, again every minute so
// that a rotated Secret is picked up without a restart.
type dirCredentials struct {
	dir string
	credentials.Expiry
}

func (d *dirCredentials) Retrieve() (credentials.Value, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		return strings.TrimSpace(string(b)), err
	}
	id, err := read("AWS_ACCESS_KEY_ID")
	if err != nil {
		return credentials.Value{}, err
	}
	secret, err := read("AWS_SECRET_ACCESS_KEY")
	if err != nil {
		return credentials.Value{}, err
	}
	token, err := read("AWS_SESSION_TOKEN")
	if err != nil && !os.IsNotExist(err) {
		return credentials.Value{}, err
	}
	d.SetExpiration(time.Now().Add(time.Minute), 0)
	return credentials.Value{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, SignerType: credentials.SignatureV4}, nil
}

func (d *dirCredentials) RetrieveWithCredContext(*credentials.CredContext) (credentials.Value, error) {
	return d.Retrieve()
}
