package kubectlprivacy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// update rewrites the golden files in testdata: go test ./internal/kubectlprivacy -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	env    *testenv.Env
	admin  client.Client
	binary string
)

// now is the plugin's clock in every test (its hidden --now flag).
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The identities of the tests' requests: no output may ever hold one.
var identities = map[string]string{"email": "ada.lovelace@example.com", "customerId": "cust-1815"}

// TestMain builds the plugin and starts one API server with the CRDs for
// the package's tests, as the e2e suite tests kubectl: the binary, run
// with --kubeconfig, against a real API server. No operator runs: the
// tests write status themselves.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubectl-privacy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kubectl-privacy")
	if out, err := exec.Command("go", "build", "-o", binary, filepath.Join(testenv.RepoRoot(), "cmd", "kubectl-privacy")).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v: %s\n", err, out)
		return 2
	}
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the API server:", err)
		return 2
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{privacyv1alpha1.AddToScheme, rbacv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	admin, err = client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return m.Run()
}

// result is one run of the plugin.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the plugin as the user of kubeconfig (the admin's when empty),
// with the fixed clock, and checks no identity is in its output.
func run(t *testing.T, kubeconfig string, args ...string) result {
	t.Helper()
	r := execPlugin(t, kubeconfig, args...)
	for _, v := range identities {
		if strings.Contains(r.stdout+r.stderr, v) {
			t.Errorf("kubectl privacy %v printed an identity:\n%s%s", args, r.stdout, r.stderr)
		}
	}
	return r
}

// execPlugin runs the plugin as run does, without the identity check (for
// the one view that shows a task's identities to the person doing it).
func execPlugin(t *testing.T, kubeconfig string, args ...string) result {
	t.Helper()
	if kubeconfig == "" {
		kubeconfig = env.KubeconfigPath
	}
	cmd := exec.Command(binary, append(args, "--kubeconfig", kubeconfig, "--now", now.Format(time.RFC3339))...)
	if len(args) > 0 && (args[0] == "receipts" || args[0] == "fingerprint" || args[0] == "report") {
		// privacyctl's flags: no --now.
		cmd = exec.Command(binary, args...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	resourceVersions = regexp.MustCompile(`version:   \d+ `)
	approvedAt       = regexp.MustCompile(`(?m)at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$`)
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	// What a run cannot fix: the API server's resource versions and the
	// wall clock of an approval.
	got = resourceVersions.ReplaceAllString(got, "version:   RV ")
	got = approvedAt.ReplaceAllString(got, "at APPROVED-AT)")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// create creates a request about ada as the admin and writes status
// through the status subresource, as the operator would.
func create(t *testing.T, name string, spec func(*privacyv1alpha1.PrivacyRequestSpec), status privacyv1alpha1.PrivacyRequestStatus) *privacyv1alpha1.PrivacyRequest {
	t.Helper()
	ctx := context.Background()
	pr := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type: privacyv1alpha1.RequestTypeDelete, Subject: privacyv1alpha1.Subject{Identities: identities},
		},
	}
	if spec != nil {
		spec(&pr.Spec)
	}
	if err := admin.Create(ctx, pr); err != nil {
		t.Fatal(err)
	}
	pr.Status = status
	if err := admin.Status().Update(ctx, pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

func at(d time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(now.Add(d))) }

func failed(reason, msg string) []metav1.Condition {
	return []metav1.Condition{{Type: "Completed", Status: metav1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)}}
}

func TestStatusTree(t *testing.T) {
	create(t, "delete-ada", func(s *privacyv1alpha1.PrivacyRequestSpec) {
		s.Requester = "alice"
		s.Approval = &privacyv1alpha1.Approval{Approver: "bob", Reason: "identity verified", ApprovedAt: metav1.NewTime(now.Add(-48 * time.Hour))}
	}, privacyv1alpha1.PrivacyRequestStatus{
		Phase: privacyv1alpha1.RequestPhaseInProgress, DueAt: at(12*24*time.Hour + 5*time.Hour), StartedAt: at(-47 * time.Hour),
		Progress: "4/6", HeldBy: []string{"litigation-2026"},
		Receipt: &privacyv1alpha1.ReceiptReference{Location: "s3://audit/privacy-receipts/receipts/00000000000000000007.json", SHA256: strings.Repeat("ab", 32), Sequence: 7},
		Sources: []privacyv1alpha1.SourceStatus{
			{Namespace: "shop", Name: "billing", Phase: privacyv1alpha1.SourcePhaseCompleted, Attempts: 1, Records: ptr.To[int64](3), Message: "3 records deleted"},
			{Namespace: "shop", Name: "crm", Phase: privacyv1alpha1.SourcePhaseNotFound, Attempts: 1, MissingIdentities: []string{"phone"}},
			{Namespace: "shop", Name: "newsletter", Phase: privacyv1alpha1.SourcePhaseFailed, Attempts: 5,
				Message: "retries ran out: 503 Service Unavailable", Conditions: failed("RetriesExhausted", "retries ran out")},
			{Namespace: "ops", Name: "archive", Phase: privacyv1alpha1.SourcePhaseHeld, Hold: "litigation-2026", Message: "held by LegalHold litigation-2026"},
			{Namespace: "ops", Name: "search", Phase: privacyv1alpha1.SourcePhaseDispatched, Attempts: 1, NextAttemptAt: at(90 * time.Second),
				Conditions: []metav1.Condition{{Type: "Dispatched", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "accepted", LastTransitionTime: metav1.NewTime(now)}}},
			{Namespace: "ops", Name: "warehouse", Phase: privacyv1alpha1.SourcePhasePending, Attempts: 2, NextAttemptAt: at(4 * time.Minute), Message: "connection refused"},
		},
	})
	r := run(t, "", "status", "delete-ada")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("coloured output to a pipe")
	}
	golden(t, "status-tree.txt", r.stdout)

	create(t, "access-grace", func(s *privacyv1alpha1.PrivacyRequestSpec) {
		s.Type, s.Regulation, s.Suspend = privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RegulationCCPA, true
	}, privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhasePending, DueAt: at(-3*24*time.Hour - time.Hour)})
	r = run(t, "", "status", "access-grace", "--no-color")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	golden(t, "status-overdue.txt", r.stdout)

	create(t, "delete-2026-0107", func(s *privacyv1alpha1.PrivacyRequestSpec) { s.Child = true },
		privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhaseInProgress, DueAt: at(6 * 24 * time.Hour)})
	r = run(t, "", "status", "delete-2026-0107", "--no-color")
	if first, _, _ := strings.Cut(r.stdout, "\n"); r.code != 0 || first != "privacyrequest/delete-2026-0107  Delete GDPR (a child's data: due within 7 days)" {
		t.Errorf("a child's Delete: the header does not say so: %+v", r)
	}
}

func TestStatusJSON(t *testing.T) {
	create(t, "optout-ada", func(s *privacyv1alpha1.PrivacyRequestSpec) { s.Type = privacyv1alpha1.RequestTypeOptOut },
		privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhasePending})
	r := run(t, "", "status", "optout-ada", "-o", "json")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	var got privacyv1alpha1.PrivacyRequest
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("-o json is not a PrivacyRequest: %v\n%s", err, r.stdout)
	}
	if got.Name != "optout-ada" || got.Kind != "PrivacyRequest" || got.Status.Phase != privacyv1alpha1.RequestPhasePending {
		t.Errorf("-o json: %+v", got)
	}
	if got.Spec.Subject.Identities["email"] != "<redacted>" {
		t.Errorf("identities not redacted: %v", got.Spec.Subject.Identities)
	}
	if r := run(t, "", "status", "optout-ada", "-o", "yaml"); r.code != 0 || !strings.Contains(r.stdout, "name: optout-ada") {
		t.Errorf("-o yaml: %+v", r)
	}
	if r := run(t, "", "status", "optout-ada", "-o", "wide"); r.code != 2 {
		t.Errorf("-o wide: %+v, want exit 2", r)
	}

	// A request applied with kubectl apply carries its whole spec in an
	// annotation, and a correction's new value is personal data too.
	applied := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "correct-ada", Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"spec":{"subject":{"identities":{"email":"ada.lovelace@example.com"}}}}`,
		}},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type: privacyv1alpha1.RequestTypeCorrect, Subject: privacyv1alpha1.Subject{Identities: identities},
			Corrections: []privacyv1alpha1.Correction{{Field: "email", Value: "ada.king@example.com"}},
		},
	}
	if err := admin.Create(context.Background(), applied); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "yaml"} {
		r := run(t, "", "status", "correct-ada", "-o", format)
		if r.code != 0 || strings.Contains(r.stdout, "ada.king@example.com") || strings.Contains(r.stdout, "last-applied-configuration") ||
			!strings.Contains(r.stdout, "email") {
			t.Errorf("-o %s shows personal data or lost the field names: %+v", format, r)
		}
	}
	r = run(t, "", "status", "correct-ada")
	if r.code != 0 || !strings.Contains(r.stdout, "corrects:  email") || strings.Contains(r.stdout, "ada.king@example.com") {
		t.Errorf("the tree says which fields are corrected, not to what: %+v", r)
	}
}

func TestStatusMissing(t *testing.T) {
	r := run(t, "", "status", "no-such-request")
	if r.code != 2 || r.stdout != "" {
		t.Fatalf("%+v, want exit 2 and nothing on stdout", r)
	}
	golden(t, "status-missing.txt", r.stderr)
	if r := run(t, "", "status"); r.code != 2 || !strings.Contains(r.stderr, "want one PrivacyRequest name") {
		t.Errorf("no name: %+v", r)
	}
}

// reviewer is a user bound to the shipped privacy-requester ClusterRole,
// with a kubeconfig of their own.
func reviewer(t *testing.T, name string) string {
	t.Helper()
	out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "privacy_requester_role.yaml"))
	if err != nil {
		t.Fatal(err, out)
	}
	if err := admin.Create(context.Background(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "privacy-desk-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "privacy-requester"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}); err != nil {
		t.Fatal(err)
	}
	return userKubeconfig(t, name)
}

func TestApprove(t *testing.T) {
	kubeconfig := reviewer(t, "reviewer-rita")
	create(t, "delete-suspended", func(s *privacyv1alpha1.PrivacyRequestSpec) { s.Suspend = true },
		privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhasePending})

	if r := run(t, kubeconfig, "approve", "delete-suspended"); r.code != 2 || !strings.Contains(r.stderr, "--reason is required") {
		t.Errorf("no --reason: %+v", r)
	}
	r := run(t, kubeconfig, "approve", "delete-suspended", "--reason", "identity verified by the desk")
	if r.code != 0 || r.stdout != "privacyrequest/delete-suspended approved by reviewer-rita\n" {
		t.Fatalf("%+v", r)
	}
	got := &privacyv1alpha1.PrivacyRequest{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: "delete-suspended"}, got); err != nil {
		t.Fatal(err)
	}
	if a := got.Spec.Approval; got.Spec.Suspend || a == nil || a.Approver != "reviewer-rita" || a.Reason != "identity verified by the desk" ||
		time.Since(a.ApprovedAt.Time) > time.Minute {
		t.Errorf("after approve: suspend %v, approval %+v", got.Spec.Suspend, got.Spec.Approval)
	}

	create(t, "delete-versioned", func(s *privacyv1alpha1.PrivacyRequestSpec) { s.Suspend = true },
		privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhasePending})
	if r := run(t, kubeconfig, "approve", "delete-versioned", "--reason", "seen", "--resource-version", "1"); r.code != 2 ||
		!strings.Contains(r.stderr, "changed since version 1") {
		t.Errorf("approving a version the reviewer did not see: %+v", r)
	}

	r = run(t, kubeconfig, "approve", "delete-suspended", "--reason", "again")
	if r.code != 2 || r.stdout != "" {
		t.Fatalf("approving twice: %+v, want exit 2", r)
	}
	golden(t, "approve-not-suspended.txt", r.stderr)
}

// exportFile writes an export document about ada and returns its path,
// sha256 and size.
func exportFile(t *testing.T) (string, string, int64) {
	t.Helper()
	data := []byte(`{"manifest":{"request":"access-ada"},"data":{"shop/billing":[{"email":"` + identities["email"] + `"}]}}` + "\n")
	path := filepath.Join(t.TempDir(), "exports", "uid-1", "export.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:]), int64(len(data))
}

func TestExport(t *testing.T) {
	location, sum, n := exportFile(t)
	completed := func(sha string) privacyv1alpha1.PrivacyRequestStatus {
		return privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhaseCompleted,
			Export: &privacyv1alpha1.ExportReference{Location: location, SHA256: sha, Bytes: n, ExpiresAt: metav1.NewTime(now.Add(7 * 24 * time.Hour))}}
	}
	access := func(s *privacyv1alpha1.PrivacyRequestSpec) { s.Type = privacyv1alpha1.RequestTypeAccess }
	create(t, "access-ada", access, completed(sum))
	create(t, "access-ada-tampered", access, completed(strings.Repeat("0", 64)))
	out := filepath.Join(t.TempDir(), "ada-export.json")

	t.Run("checked", func(t *testing.T) {
		r := run(t, "", "export", "access-ada", "-o", out)
		if r.code != 0 || r.stdout != fmt.Sprintf("privacyrequest/access-ada export written to %s (%d bytes, sha256 %s)\n", out, n, sum) {
			t.Fatalf("%+v", r)
		}
		want, _ := os.ReadFile(location)
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("written export differs: %v", err)
		}
		if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		if r := run(t, "", "export", "access-ada", "-o", out); r.code != 2 {
			t.Errorf("overwriting: %+v, want exit 2", r)
		}
	})
	t.Run("wrong sha256", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "tampered.json")
		r := run(t, "", "export", "access-ada-tampered", "-o", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "does not match its status") {
			t.Fatalf("%+v", r)
		}
		if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused export was left behind: %v", err)
		}
	})
	t.Run("no export", func(t *testing.T) {
		r := run(t, "", "export", "delete-ada-noexport", "-o", filepath.Join(t.TempDir(), "x"))
		if r.code != 2 || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("%+v", r)
		}
	})
}

// receiptLog writes a small signed log (three requests about ada) with a
// fixed key and clock, so that its sha256s are the same on every run.
func receiptLog(t *testing.T) (dir, publicKeys string) {
	t.Helper()
	dir = t.TempDir()
	store, err := receipt.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	fpKey := bytes.Repeat([]byte{9}, 32)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	publicKeys = filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(publicKeys, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	signer := func(context.Context) (receipt.Signer, error) { return receipt.Signer{Key: key}, nil }
	l, err := receipt.OpenLog(context.Background(), store, signer, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		created := now.Add(-time.Duration(10-i) * 24 * time.Hour)
		if _, err := l.Append(context.Background(), &receipt.Receipt{Kind: receipt.KindPrivacyRequest, Request: &receipt.Request{
			Name: fmt.Sprintf("request-%d", i), UID: fmt.Sprintf("uid-%d", i), Type: "Delete", Regulation: "GDPR",
			CreatedAt: created, DueAt: created.Add(30 * 24 * time.Hour), FinishedAt: created.Add(time.Hour), Outcome: receipt.OutcomeCompleted,
			Subject: receipt.Subject{FingerprintKeyID: receipt.FingerprintKeyID(fpKey), Fingerprints: receipt.Fingerprints(fpKey, identities)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, publicKeys
}

func TestReceiptsVerify(t *testing.T) {
	dir, keys := receiptLog(t)
	r := run(t, "", "receipts", "verify", "--dir", dir, "--public-keys", keys)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	golden(t, "receipts-verify.txt", r.stdout)

	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(receipt.Name(2)))); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "receipts", "verify", "--dir", dir, "--public-keys", keys)
	if r.code != 1 || !strings.Contains(r.stdout, "(sequence 3): receipt 2 is missing") {
		t.Fatalf("a removed receipt: %+v, want exit 1 and the break", r)
	}
	if r := run(t, "", "receipts", "verify"); r.code != 2 {
		t.Errorf("no store: %+v, want exit 2", r)
	}
}

// TestApproveRefusedByPolicy installs config/admission, as a platform team
// would, and lets a requester try to approve their own request: the
// four-eyes policy's 403 is printed as the API server words it. It is the
// last test of the file: the policies refuse the other tests' creates
// (approvals written on create, requesters who are not the admin).
func TestApproveRefusedByPolicy(t *testing.T) {
	ctx := context.Background()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "privacy-operator-system"}}); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Kubectl("apply", "--server-side", "-k", filepath.Join(testenv.RepoRoot(), "config", "admission")); err != nil {
		t.Fatal(err, out)
	}
	kubeconfig := reviewer(t, "requester-ron")
	user, err := env.AddUser(envtest.User{Name: "requester-ron"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ron, err := client.New(user.Config(), client.Options{Scheme: admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// The policies are in force once ron's suspended create is stamped
	// with his name.
	pr := &privacyv1alpha1.PrivacyRequest{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pr = &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "delete-by-ron-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{Type: privacyv1alpha1.RequestTypeDelete,
				Subject: privacyv1alpha1.Subject{Identities: identities}, Suspend: true},
		}
		err := ron.Create(ctx, pr)
		if err == nil && pr.Spec.Requester == "requester-ron" {
			break
		}
		if err == nil {
			_ = admin.Delete(ctx, pr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policies are not in force after 30s: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The four-eyes policy comes into force on its own schedule, apart
	// from the stamp (CI once approved before it was): probe with dry runs.
	for {
		cur := &privacyv1alpha1.PrivacyRequest{}
		err := ron.Get(ctx, client.ObjectKeyFromObject(pr), cur)
		if err == nil {
			cur.Spec.Suspend = false
			cur.Spec.Approval = &privacyv1alpha1.Approval{Approver: "requester-ron", Reason: "probe", ApprovedAt: metav1.Now()}
			err = ron.Update(ctx, cur, client.DryRunAll)
		}
		if err != nil && strings.Contains(err.Error(), "four-eyes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the four-eyes policy is not in force after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := run(t, kubeconfig, "approve", pr.Name, "--reason", "looks fine")
	if r.code != 2 || !strings.Contains(r.stderr, "four-eyes approval is required: requester-ron made this request and cannot approve it") {
		t.Fatalf("%+v, want exit 2 with the four-eyes policy's message", r)
	}
}
