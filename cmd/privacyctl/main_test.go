package main_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// privacyctl builds the binary once for the package's tests.
func privacyctl(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "privacyctl-test-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "privacyctl")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		_ = os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// run runs privacyctl with args, stdin and extra environment.
func run(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(privacyctl(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// fixture is a receipt log in a directory with its key files.
type fixture struct {
	dir, publicKeys, fingerprintKey string
	store                           *receipt.DirStore
}

// The identities of the fixture's requests. A test checks none of them
// is ever printed.
var (
	ada   = map[string]string{"email": "ada.lovelace@example.com", "customerId": "cust-1815"}
	grace = map[string]string{"email": "grace.hopper@example.com"}
)

// newFixture writes six request receipts (the 2nd and 5th about ada).
func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := receipt.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer := receipt.Signer{Key: key}
	fpKey := make([]byte, 32)
	_, _ = rand.Read(fpKey)
	f := fixture{dir: dir, store: store, publicKeys: filepath.Join(dir, "keys.pem"), fingerprintKey: filepath.Join(dir, "hmac.key")}
	writePublicKey(t, f.publicKeys, key)
	if err := os.WriteFile(f.fingerprintKey, fpKey, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := receipt.OpenLog(context.Background(), store, func(context.Context) (receipt.Signer, error) { return signer, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		who := grace
		if i == 2 || i == 5 {
			who = ada
		}
		if _, err := l.Append(context.Background(), requestReceipt(i, fpKey, who)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func writePublicKey(t *testing.T, path string, key ed25519.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func requestReceipt(i int, fpKey []byte, identities map[string]string) *receipt.Receipt {
	at := time.Date(2026, 2, i, 9, 0, 0, 0, time.UTC)
	return &receipt.Receipt{Kind: receipt.KindPrivacyRequest, Request: &receipt.Request{
		Name: fmt.Sprintf("request-%d", i), UID: fmt.Sprintf("uid-%d", i), Type: "Delete", Regulation: "GDPR",
		CreatedAt: at, DueAt: at.Add(30 * 24 * time.Hour), FinishedAt: at.Add(time.Hour), Outcome: receipt.OutcomeCompleted,
		Subject: receipt.Subject{FingerprintKeyID: receipt.FingerprintKeyID(fpKey), Fingerprints: receipt.Fingerprints(fpKey, identities)},
	}}
}

// location is where privacyctl says a receipt of the fixture is.
func (f fixture) location(seq uint64) string { return f.store.Location(receipt.Name(seq)) }

func TestUsage(t *testing.T) {
	if r := run(t, "", nil, "-h"); r.code != 0 || !strings.Contains(r.stdout, "privacyctl receipts verify") {
		t.Errorf("-h: %+v", r)
	}
	if r := run(t, "", nil, "receipts", "find", "-h"); r.code != 0 || !strings.Contains(r.stdout, "--identity-stdin") && !strings.Contains(r.stdout, "-identity-stdin") {
		t.Errorf("find -h: %+v", r)
	}
	for _, args := range [][]string{nil, {"receipts"}, {"receipts", "sign"}, {"receipts", "verify", "--nope"}, {"receipts", "verify"}, {"receipts", "verify", "--dir", "a", "--url", "s3://b/p"}} {
		if r := run(t, "", nil, args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: %+v, want exit 2 with a message", args, r)
		}
	}
}

func TestVerifyCleanLog(t *testing.T) {
	f := newFixture(t)
	r := run(t, "", nil, "receipts", "verify", "--dir", f.dir, "--public-keys", f.publicKeys)
	if r.code != 0 || strings.Contains(r.stdout, "BREAK ") || !strings.Contains(r.stdout, "6 receipts (0 sweeps), sequences 1 to 6") || !strings.HasSuffix(strings.TrimSpace(r.stdout), "no break") {
		t.Fatalf("%+v", r)
	}
}

// An edited receipt and a removed one: each break on a line of its own,
// at its place; exit 1.
func TestVerifyTamperedLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data, err := f.store.Get(ctx, receipt.Name(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.location(2), bytes.Replace(data, []byte(`"Completed"`), []byte(`"Cancelled"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(ctx, receipt.Name(4)); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", nil, "receipts", "verify", "--dir", f.dir, "--public-keys", f.publicKeys)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || len(lines) != 3 {
		t.Fatalf("%+v", r)
	}
	for i, want := range []string{
		"BREAK " + f.location(2) + " (sequence 2): the signature does not match",
		"BREAK " + f.location(5) + " (sequence 5): receipt 4 is missing",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %q, want it to start %q", i+1, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[2], "2 BREAKS") {
		t.Errorf("summary %q", lines[2])
	}
}

// A log verified with keys that did not sign it: every receipt is a break.
func TestVerifyWithOtherKeys(t *testing.T) {
	f := newFixture(t)
	other := filepath.Join(t.TempDir(), "other.pem")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	writePublicKey(t, other, key)
	if r := run(t, "", nil, "receipts", "verify", "--dir", f.dir, "--public-keys", other); r.code != 1 || strings.Count(r.stdout, "not among the public keys") != 6 {
		t.Fatalf("%+v", r)
	}
	if r := run(t, "", nil, "receipts", "verify", "--dir", f.dir, "--public-keys", filepath.Join(f.dir, "missing.pem")); r.code != 2 {
		t.Fatalf("missing key file: %+v", r)
	}
	if r := run(t, "", nil, "receipts", "verify", "--dir", t.TempDir(), "--public-keys", f.publicKeys); r.code != 2 {
		t.Fatalf("a directory without a log: %+v", r)
	}
}

func TestFind(t *testing.T) {
	f := newFixture(t)
	check := func(r result, what string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: %+v", what, r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "LOCATION") {
			t.Fatalf("%s: stdout %q", what, r.stdout)
		}
		for i, seq := range []uint64{2, 5} {
			fields := strings.Fields(lines[i+1])
			want := []string{f.location(seq), fmt.Sprint(seq), "PrivacyRequest", fmt.Sprintf("request-%d", seq), "Delete", "Completed"}
			if len(fields) != 7 || strings.Join(fields[:6], " ") != strings.Join(want, " ") {
				t.Errorf("%s: row %q, want %v and the finish time", what, lines[i+1], want)
			}
		}
		if !strings.Contains(r.stderr, "2 of 6 request receipts") {
			t.Errorf("%s: stderr %q", what, r.stderr)
		}
		noIdentity(t, r)
	}
	check(run(t, "", nil, "receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--identity", "email= Ada.Lovelace@Example.com"), "--identity")
	check(run(t, "\ncustomerId=cust-1815\n\n", nil, "receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--identity-stdin"), "--identity-stdin")

	none := run(t, "email=nobody@example.com\n", nil, "receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--identity-stdin")
	if none.code != 1 || none.stdout != "" || !strings.Contains(none.stderr, "0 of 6") {
		t.Fatalf("nobody: %+v", none)
	}
	bad := run(t, "email=ada.lovelace@example.com\nada.lovelace@example.com\n", nil, "receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--identity-stdin")
	if bad.code != 2 || !strings.Contains(bad.stderr, "line 2") {
		t.Fatalf("a line without a type: %+v", bad)
	}
	noIdentity(t, bad)
	if r := run(t, "", nil, "receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey); r.code != 2 {
		t.Fatalf("no identity: %+v", r)
	}
}

// noIdentity fails the test if any identity of the fixture was printed.
func noIdentity(t *testing.T, r result) {
	t.Helper()
	out := strings.ToLower(r.stdout + r.stderr)
	for _, ids := range []map[string]string{ada, grace} {
		for _, v := range ids {
			if strings.Contains(out, strings.ToLower(v)) {
				t.Errorf("privacyctl printed an identity: %q", out)
			}
		}
	}
}

// TestFingerprint prints what a LegalHold's scope.subjects lists: the
// operator's fingerprint of each identity, normalised, never the identity.
func TestFingerprint(t *testing.T) {
	f := newFixture(t)
	key, err := os.ReadFile(f.fingerprintKey)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, "email= Ada.Lovelace@Example.com\nuserId=1815\n", nil, "fingerprint", "--identity-stdin", "--fingerprint-key-file", f.fingerprintKey)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	want := fmt.Sprintf("email   %s\nuserId  %s\n", receipt.Fingerprint(key, "email", "ada.lovelace@example.com"), receipt.Fingerprint(key, "userId", "1815"))
	if r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	noIdentity(t, r)
	if r := run(t, "", nil, "fingerprint", "--fingerprint-key-file", f.fingerprintKey); r.code != 2 || !strings.Contains(r.stderr, "--identity-stdin") {
		t.Errorf("no identity: %+v", r)
	}
	if r := run(t, "", nil, "fingerprint", "-h"); r.code != 0 || !strings.Contains(r.stdout, "spec.scope.subjects") {
		t.Errorf("-h: %+v", r)
	}
}

// A mistake on the command line is reported without quoting it: an
// identity typed in the wrong place (after the flags, as a flag's value,
// as a flag, as a file or a URL) must not end up in a terminal or a log.
func TestMistakesPrintNoIdentity(t *testing.T) {
	f := newFixture(t)
	const who = "ada.lovelace@example.com"
	missing := filepath.Join(t.TempDir(), who)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"fingerprint", "--identity", "email=" + who, "customerId=cust-1815"}, "1 unexpected argument after the flags"},
		{[]string{"fingerprint", "--identity", "email=" + who, who, "grace.hopper@example.com"}, "2 unexpected arguments"},
		{[]string{"fingerprint", "--identity-stdin=email=" + who}, "--identity-stdin is a switch"},
		{[]string{"fingerprint", "--fingerprint-key-file", f.fingerprintKey, "--email=" + who}, "argument 3 is not a flag of this command"},
		{[]string{"fingerprint", "--" + who}, "argument 1 is not a flag"},
		{[]string{"fingerprint", "-=" + who}, "argument 1 is not a flag"},
		{[]string{"fingerprint", "--identity"}, "--identity needs a value"},
		{[]string{"fingerprint", "--identity", who, "--fingerprint-key-file", f.fingerprintKey}, "--identity number 1: want type=value"},
		{[]string{"fingerprint", "--identity", "email=" + who, "--fingerprint-key-file", missing}, "--fingerprint-key-file: cannot open the file"},
		{[]string{"fingerprint", "--identity", "email=" + who, "--kubeconfig", missing}, "<--kubeconfig>"},
		{[]string{"receipts", who}, "unknown command"},
		{[]string{"receipts", "find", "--dir", f.dir, "--identity-stdin=" + who}, "--identity-stdin is a switch"},
		{[]string{"receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--identity", "email=" + who, "cust-1815"}, "1 unexpected argument"},
		{[]string{"receipts", "find", "--dir", f.dir, "--fingerprint-key-file", f.fingerprintKey, "--fingerprint-key-file", missing, "--identity", "email=" + who}, "--fingerprint-key-file number 2: cannot open"},
		{[]string{"receipts", "verify", "--dir", missing, "--public-keys", f.publicKeys}, "--dir holds no receipt log"},
		{[]string{"receipts", "verify", "--url", "s3://receipts/prod?pathStyle=" + who, "--public-keys", f.publicKeys}, "--url is not a receipt log's URL"},
		{[]string{"receipts", "verify", "--dir", f.dir, "--public-keys", missing}, "--public-keys: cannot open the file"},
		{[]string{"receipts", "verify", "--dir", f.dir, "--public-keys", f.publicKeys, "--s3-path-style=" + who}, "--s3-path-style is a switch"},
		{[]string{"receipts", "verify", "--s3-path-style=1", "--dir", f.dir, "--" + who}, "argument 4 is not a flag of this command"},
	} {
		r := run(t, "", []string{"KUBECONFIG=" + missing}, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%d %v: exit %d, stderr %q; want exit 2 and %q", len(tc.args), tc.args[:2], r.code, r.stderr, tc.says)
		}
		noIdentity(t, r)
	}
}
