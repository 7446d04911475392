package export_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
)

func TestS3Location(t *testing.T) {
	cfg := exporttest.Config(t)
	s := newS3Store(t, cfg)
	ref, err := writeAndAssemble(context.Background(), s, "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "s3://" + cfg.Bucket + "/" + cfg.Prefix + "/uid-1/export.json"; ref.Location != want {
		t.Errorf("location = %s, want %s", ref.Location, want)
	}
	if want := cfg.Prefix + "/uid-1/parts/shop_billing.json"; !contains(objects(t, cfg), want) {
		t.Errorf("objects %v; want the part %s", objects(t, cfg), want)
	}
	if local := localFiles(t, s.Dir); len(local) != 0 {
		t.Errorf("files left on local disk: %v; want none (the parts are in the bucket, the assembled export is removed after its upload)", local)
	}
}

// objects lists the keys under cfg's prefix.
func objects(t *testing.T, cfg export.S3Config) []string {
	t.Helper()
	var keys []string
	for obj := range exporttest.Client(t).ListObjects(context.Background(), cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

// localFiles lists the regular files under dir.
func localFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Two replicas, each with a spool of its own, over one bucket: the parts
// one files (written, or spooled and adopted) are in the export the other
// assembles after taking over.
func TestS3AnotherReplicaAssembles(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	first, second := newS3Store(t, cfg), newS3Store(t, cfg)
	if err := first.WritePart(ctx, "uid-1", export.PartName("shop", "billing"), []byte(`{"orders":[1,2]}`)); err != nil {
		t.Fatal(err)
	}
	spooled, err := first.Put("pr-test", jsonOfSize(3<<20))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.AdoptPart(ctx, "uid-1", export.PartName("crm", "contacts"), spooled); err != nil {
		t.Fatal(err)
	}
	if local := localFiles(t, first.Dir); len(local) != 0 {
		t.Errorf("the first replica keeps %v on its disk", local)
	}

	m := testManifest("uid-1")
	m.Sources[1] = export.Source{Namespace: "crm", Name: "contacts", Status: "Completed", Records: 1}
	ref, err := second.Assemble(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	data, err := readObject(t, ref)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Manifest export.Manifest            `json:"manifest"`
		Data     map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if string(doc.Data["shop/billing"]) != `{"orders":[1,2]}` || !bytes.Equal(doc.Data["crm/contacts"], jsonOfSize(3<<20)) {
		t.Errorf("export data holds %d sources, billing %s; want both parts in full", len(doc.Data), doc.Data["shop/billing"])
	}
	for _, src := range doc.Manifest.Sources {
		if src.SHA256 == "" || src.Bytes == 0 {
			t.Errorf("manifest entry %+v lacks the part's sha256 and size", src)
		}
	}
	if err := second.Settle(ctx, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Assemble(ctx, m); err == nil {
		t.Error("the first replica assembled the export again after the second settled it")
	}
}

// A large export goes in parts; its checksum is then checked by reading
// the object back.
func TestS3Multipart(t *testing.T) {
	ctx := context.Background()
	s := newS3Store(t, exporttest.Config(t))
	export.SetSinglePutMax(s, 1<<20, 5<<20)
	part := jsonOfSize(11 << 20)
	if err := s.WritePart(ctx, "uid-1", export.PartName("shop", "billing"), part); err != nil {
		t.Fatal(err)
	}
	ref, err := s.Assemble(ctx, testManifest("uid-1"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := readObject(t, ref)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != ref.SHA256 || int64(len(data)) != ref.Bytes || ref.Bytes < 11<<20 {
		t.Errorf("ref %+v does not describe the object (%d bytes)", ref, len(data))
	}
}

// jsonOfSize is a JSON document of n bytes.
func jsonOfSize(n int) []byte {
	const head, tail = `{"rows":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// With the bucket out of reach, filing a part and assembling say why and
// keep the data: a spooled part stays in the spool for the next pass.
func TestS3UnreachableKeepsData(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	working := newS3Store(t, cfg)
	cfg.Endpoint = "http://" + closedPort(t)
	broken, err := export.NewS3Store(working.DirStore, cfg)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "s3://"+cfg.Bucket+"/"+cfg.Prefix+"/uid-1/") {
			t.Errorf("%s with the server down: %v; want an error naming the object and the refused connection", what, err)
		}
	}
	refused("WritePart", broken.WritePart(ctx, "uid-1", export.PartName("crm", "contacts"), []byte(`{"contacts":[1]}`)))
	file, err := broken.Put("pr-test", []byte(`{"orders":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	refused("AdoptPart", broken.AdoptPart(ctx, "uid-1", export.PartName("shop", "billing"), file))
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the spooled part is gone after a failed upload: %v", err)
	}
	_, err = broken.Assemble(ctx, testManifest("uid-1"))
	refused("Assemble", err)
	if err := broken.Delete(ctx, "uid-1"); err == nil {
		t.Error("Delete with the server down reported success")
	}

	if err := working.AdoptPart(ctx, "uid-1", export.PartName("shop", "billing"), file); err != nil {
		t.Fatal(err)
	}
	ref, err := working.Assemble(ctx, testManifest("uid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if data, err := readObject(t, ref); err != nil || !bytes.Contains(data, []byte(`"shop/billing":{"orders":[1]}`)) {
		t.Errorf("export after the outage = %s, %v; want the spooled data", data, err)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestS3WrongCredentials(t *testing.T) {
	cfg := exporttest.Config(t)
	dir := t.TempDir()
	writeFile(t, dir, "AWS_ACCESS_KEY_ID", exporttest.AccessKey)
	writeFile(t, dir, "AWS_SECRET_ACCESS_KEY", "not-the-secret")
	cfg.Credentials, cfg.CredentialsDir = nil, dir
	_, err := writeAndAssemble(context.Background(), newS3Store(t, cfg), "uid-1")
	if err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("WritePart with a wrong secret: %v; want the server's signature error", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}
	// The Secret is read again: the right key works without a new store.
	writeFile(t, dir, "AWS_SECRET_ACCESS_KEY", exporttest.SecretKey+"\n")
	cfg.CredentialsDir = dir
	if _, err := writeAndAssemble(context.Background(), newS3Store(t, cfg), "uid-1"); err != nil {
		t.Errorf("export with the mounted Secret's keys: %v", err)
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The endpoint's certificate is trusted through caFile; without it the
// upload fails on TLS.
func TestS3CAFile(t *testing.T) {
	cfg := exporttest.Config(t)
	proxy := tlsProxy(t, cfg.Endpoint, nil)
	cfg.Endpoint = proxy.URL
	if _, err := writeAndAssemble(context.Background(), newS3Store(t, cfg), "uid-1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("export without the CA: %v; want a certificate error", err)
	}
	cfg.CAFile = filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, filepath.Dir(cfg.CAFile), "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})))
	if _, err := writeAndAssemble(context.Background(), newS3Store(t, cfg), "uid-1"); err != nil {
		t.Errorf("export with caFile: %v", err)
	}
}

// tlsProxy serves the S3 server over TLS with a certificate of its own,
// keeping the Host header the request was signed for; seen, when set,
// receives each request's headers.
func tlsProxy(t *testing.T, endpoint string, seen func(*http.Request)) *httptest.Server {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if seen != nil {
			seen(r.In)
		}
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(srv.Close)
	return srv
}

// Server-side encryption is asked for on every upload: parts, the export
// and the marker Settle leaves.
func TestS3ServerSideEncryption(t *testing.T) {
	for _, tc := range []struct{ sse, key, wantHeader, wantKey string }{
		{sse: "AES256", wantHeader: "AES256"},
		{sse: "aws:kms", key: "arn:aws:kms:eu-west-1:1:key/k", wantHeader: "aws:kms", wantKey: "arn:aws:kms:eu-west-1:1:key/k"},
	} {
		t.Run(tc.sse, func(t *testing.T) {
			cfg := exporttest.Config(t)
			var mu sync.Mutex
			sent := map[string]http.Header{}
			proxy := tlsProxy(t, cfg.Endpoint, func(r *http.Request) {
				if r.Method == http.MethodPut {
					mu.Lock()
					sent[r.URL.Path] = r.Header.Clone()
					mu.Unlock()
				}
			})
			cfg.Endpoint, cfg.CAFile = proxy.URL, filepath.Join(t.TempDir(), "ca.crt")
			writeFile(t, filepath.Dir(cfg.CAFile), "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})))
			cfg.SSE, cfg.SSEKMSKeyID = tc.sse, tc.key
			s := newS3Store(t, cfg)
			if _, err := writeAndAssemble(context.Background(), s, "uid-1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Settle(context.Background(), "uid-1"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 3 {
				t.Errorf("uploads to %v; want the part, the export and the marker", slices.Collect(maps.Keys(sent)))
			}
			for path, h := range sent {
				if h.Get("X-Amz-Server-Side-Encryption") != tc.wantHeader ||
					h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != tc.wantKey {
					t.Errorf("upload of %s with headers %v; want server-side encryption %s, key %q", path, h, tc.wantHeader, tc.wantKey)
				}
			}
		})
	}
}

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		flags export.S3Config
		want  export.S3Config
		err   string
	}{
		{url: "s3://exports/p", want: export.S3Config{Bucket: "exports", Prefix: "p"}},
		{url: "s3://exports", err: "needs a prefix that belongs to this install only"},
		{url: "s3://exports/?region=eu-west-1", err: "needs a prefix that belongs to this install only"},
		{url: "s3://exports/p?installID=prod-eu", want: export.S3Config{Bucket: "exports", Prefix: "p", InstallID: "prod-eu"}},
		{url: "s3://exports/p?installID=a%0Ab", err: "printable ASCII"},
		{url: "s3://exports/p?installID=prod", flags: export.S3Config{InstallID: "test"}, err: "contradicts"},
		{url: "s3://exports/privacy/access/?region=eu-west-1&pathStyle=true&endpoint=https://minio.example:9000&caFile=/ca.crt",
			want: export.S3Config{Bucket: "exports", Prefix: "privacy/access", Region: "eu-west-1", PathStyle: true, Endpoint: "https://minio.example:9000", CAFile: "/ca.crt"}},
		{url: "s3://exports/p?sse=aws:kms&sseKMSKeyID=alias/privacy&credentialsDir=/var/run/s3",
			want: export.S3Config{Bucket: "exports", Prefix: "p", SSE: "aws:kms", SSEKMSKeyID: "alias/privacy", CredentialsDir: "/var/run/s3"}},
		{url: "s3://exports/p", flags: export.S3Config{Region: "eu-west-1", PathStyle: true},
			want: export.S3Config{Bucket: "exports", Prefix: "p", Region: "eu-west-1", PathStyle: true}},
		{url: "s3://exports/p?region=eu-west-1", flags: export.S3Config{Region: "eu-west-1"}, want: export.S3Config{Bucket: "exports", Prefix: "p", Region: "eu-west-1"}},
		{url: "s3://exports/p?region=us-east-1", flags: export.S3Config{Region: "eu-west-1"}, err: "contradicts"},
		{url: "s3://exports/p?pathStyle=false", flags: export.S3Config{PathStyle: true}, err: "contradicts"},
		{url: "s3://exports/p?regoin=eu-west-1", err: "unknown"},
		{url: "s3://exports/p?sse=des", err: "AES256"},
		{url: "s3://exports/p?sseKMSKeyID=k", err: "aws:kms"},
		{url: "s3://exports/p?endpoint=ftp://host", err: "https://"},
		{url: "s3://exports/p?endpoint=https://host/path", err: "https://"},
		{url: "s3://key:secret@exports", err: "s3://bucket"},
		{url: "https://exports.s3.amazonaws.com", err: "s3://bucket"},
		{url: "s3:///prefix", err: "s3://bucket"},
	} {
		got, err := export.ParseS3URL(tc.url, tc.flags)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", tc.url, got, err, tc.want)
		}
	}
}

func TestBindFlags(t *testing.T) {
	var cfg export.S3Config
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	cfg.BindFlags(fs)
	if err := fs.Parse([]string{"--export-s3-endpoint=https://s3.example", "--export-s3-region=eu-west-1", "--export-s3-path-style",
		"--export-s3-ca-file=/ca.crt", "--export-s3-sse=aws:kms", "--export-s3-sse-kms-key-id=k", "--export-s3-credentials-dir=/s3",
		"--export-s3-install-id=prod-eu"}); err != nil {
		t.Fatal(err)
	}
	want := export.S3Config{Endpoint: "https://s3.example", Region: "eu-west-1", PathStyle: true, CAFile: "/ca.crt", SSE: "aws:kms", SSEKMSKeyID: "k", CredentialsDir: "/s3",
		InstallID: "prod-eu"}
	if cfg != want {
		t.Errorf("flags gave %+v, want %+v", cfg, want)
	}
}

// Settle drops the parts once the export is recorded; assembling again (a
// pass from a stale view, on any replica) then fails instead of uploading
// an export without the data.
func TestS3Settle(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	s := newS3Store(t, cfg)
	ref, err := writeAndAssemble(ctx, s, "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "uid-1"); err != nil {
		t.Fatal(err)
	}
	want := []string{cfg.Prefix + "/uid-1/export.json", cfg.Prefix + "/uid-1/settled"}
	if got := objects(t, cfg); !slices.Equal(got, want) {
		t.Errorf("objects after Settle %v; want %v (the parts gone)", got, want)
	}
	if _, err := newS3Store(t, cfg).Assemble(ctx, testManifest("uid-1")); err == nil {
		t.Error("Assemble after Settle succeeded")
	}
	if data, err := readObject(t, ref); err != nil || !bytes.Contains(data, []byte(`{"orders":[1]}`)) {
		t.Errorf("export after Settle = %s, %v", data, err)
	}
	if err := s.Delete(ctx, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, cfg); len(got) != 0 {
		t.Errorf("objects after Delete: %v", got)
	}
}

// An empty prefix is refused however the store is configured: the sweep
// would take the whole bucket for the operator's.
func TestS3NeedsPrefix(t *testing.T) {
	cfg := exporttest.Config(t)
	cfg.Prefix = "/"
	if _, err := export.NewS3Store(export.DirStore{Dir: t.TempDir()}, cfg); err == nil || !strings.Contains(err.Error(), "needs a prefix") {
		t.Errorf("NewS3Store without a prefix: %v; want it refused", err)
	}
}

// The sweep deletes only objects this install wrote: they carry its id. An
// object another program put in the layout, or another install's under the
// same prefix, stays.
func TestS3DeleteOrphanOnlyTagged(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	mine := newS3Store(t, cfg)
	otherCfg := cfg
	otherCfg.InstallID = "another-install"
	other := newS3Store(t, otherCfg)
	const ours, theirs, untagged = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-aaaaaaaaaaaa", "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
	if _, err := writeAndAssemble(ctx, mine, ours); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAndAssemble(ctx, other, theirs); err != nil {
		t.Fatal(err)
	}
	putObject(t, cfg, cfg.Prefix+"/"+untagged+"/export.json", `{}`)
	if uids, err := mine.Requests(ctx); err != nil || len(uids) != 3 {
		t.Fatalf("Requests = %v, %v; want the three folders", uids, err)
	}
	for uid, want := range map[string]bool{theirs: false, untagged: false, ours: true} {
		if deleted, err := mine.DeleteOrphan(ctx, uid); err != nil || deleted != want {
			t.Errorf("DeleteOrphan(%s) = %v, %v; want %v", uid, deleted, err, want)
		}
	}
	if deleted, err := other.DeleteOrphan(ctx, theirs); err != nil || !deleted {
		t.Errorf("the other install's DeleteOrphan of its own = %v, %v; want true", deleted, err)
	}
	if got, want := objects(t, cfg), []string{cfg.Prefix + "/" + untagged + "/export.json"}; !slices.Equal(got, want) {
		t.Errorf("objects after the sweeps %v; want %v", got, want)
	}
}

// With the least-privilege policy of docs/exports.md on AWS, a HEAD or GET
// of a missing key is answered 403 (only who may list the whole bucket
// learns that a key is missing) and a listing only with a prefix under the
// operator's. Every store call works under it.
func TestS3LeastPrivilege(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	proxy := leastPrivilegeProxy(t, cfg)
	cfg.Endpoint = proxy.URL
	host := strings.TrimPrefix(proxy.URL, "http://")
	raw, err := minio.New(host, &minio.Options{Creds: cfg.Credentials, Region: cfg.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.StatObject(ctx, cfg.Bucket, cfg.Prefix+"/missing", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("HEAD of a missing key through the proxy: %v; want AccessDenied, as AWS answers", err)
	}

	s := newS3Store(t, cfg)
	const uid = "11111111-2222-4333-8444-555555555555"
	m := testManifest(uid)
	if _, err := s.Assemble(ctx, m); !errors.Is(err, export.ErrMissingPart) {
		t.Errorf("Assemble without the part: %v; want ErrMissingPart", err)
	}
	file, err := s.Put("pr-test", []byte(`{"orders":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second finds the part filed by the first
		if err := s.AdoptPart(ctx, uid, export.PartName("shop", "billing"), file); err != nil {
			t.Fatalf("AdoptPart: %v", err)
		}
	}
	ref, err := s.Assemble(ctx, m) // crm/contacts has no part
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	if again, err := s.Assemble(ctx, m); err != nil || again.SHA256 != ref.SHA256 {
		t.Errorf("Assemble again: %+v, %v", again, err)
	}
	if err := s.Settle(ctx, uid); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if _, err := s.Assemble(ctx, m); err == nil || !strings.Contains(err.Error(), "recorded already") {
		t.Errorf("Assemble after Settle: %v; want it refused because of the marker", err)
	}
	if uids, err := s.Requests(ctx); err != nil || !slices.Equal(uids, []string{uid}) {
		t.Errorf("Requests = %v, %v", uids, err)
	}
	if deleted, err := s.DeleteOrphan(ctx, uid); err != nil || !deleted {
		t.Errorf("DeleteOrphan = %v, %v", deleted, err)
	}
	if err := s.Delete(ctx, uid); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// leastPrivilegeProxy serves the test server as AWS serves an identity
// with the policy of docs/exports.md: object calls only under cfg's
// prefix, a missing key answered 403 AccessDenied, listings only with a
// prefix under cfg's, no other bucket call.
func leastPrivilegeProxy(t *testing.T, cfg export.S3Config) *httptest.Server {
	target, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	const denied = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusNotFound {
				resp.Body.Close()
				resp.StatusCode, resp.Status = http.StatusForbidden, "403 Forbidden"
				resp.Body = io.NopCloser(strings.NewReader(denied))
				resp.ContentLength = int64(len(denied))
				resp.Header.Set("Content-Length", strconv.Itoa(len(denied)))
				resp.Header.Set("Content-Type", "application/xml")
			}
			return nil
		},
	}
	own := cfg.Prefix + "/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+cfg.Bucket), "/")
		q := r.URL.Query()
		allowed := strings.HasPrefix(key, own)
		if key == "" { // a bucket call: only s3:ListBucket, with the condition on s3:prefix
			allowed = r.Method == http.MethodGet && q.Get("list-type") == "2" && strings.HasPrefix(q.Get("prefix"), own)
		}
		if !allowed {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, denied)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An endpoint that takes the connection and never answers (a black-holed
// bucket) holds no call beyond its timeout, and loses nothing: a spooled
// part stays for the next pass.
func TestS3TimesOut(t *testing.T) {
	ctx := context.Background()
	cfg := exporttest.Config(t)
	addr, _ := exporttest.BlackHole(t)
	cfg.Endpoint = "http://" + addr
	cfg.Timeouts = export.Timeouts{Call: 300 * time.Millisecond, Assemble: 300 * time.Millisecond}
	s := newS3Store(t, cfg)
	file, err := s.Put("pr-test", []byte(`{"orders":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	const uid = "11111111-2222-4333-8444-555555555555"
	for name, call := range map[string]func() error{
		"WritePart": func() error { return s.WritePart(ctx, uid, export.PartName("crm", "contacts"), []byte(`{}`)) },
		"AdoptPart": func() error { return s.AdoptPart(ctx, uid, export.PartName("shop", "billing"), file) },
		"Assemble": func() error {
			_, err := s.Assemble(ctx, testManifest(uid))
			return err
		},
		"Settle": func() error { return s.Settle(ctx, uid) },
		"Delete": func() error { return s.Delete(ctx, uid) },
		"Requests": func() error {
			_, err := s.Requests(ctx)
			return err
		},
		"DeleteOrphan": func() error {
			_, err := s.DeleteOrphan(ctx, uid)
			return err
		},
	} {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s took %s with a server that never answers; want about its 300ms timeout", name, took)
		}
		if err == nil || !strings.Contains(err.Error(), "did not finish within 300ms") {
			t.Errorf("%s: %v; want an error saying the server did not finish within the timeout", name, err)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the spooled part is gone after a call that timed out: %v", err)
	}
}
