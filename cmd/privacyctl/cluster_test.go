package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt/receipttest"
)

// The keys come from the cluster (the caller's kubeconfig) and the log
// from the bucket (credentials from the environment), as an auditor
// would run it.
func TestKeysFromTheClusterLogInTheBucket(t *testing.T) {
	c, env := receipttest.APIServer(t)
	user, err := env.AddUser(envtest.User{Name: "auditor", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigData, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns = "privacy-operator-system"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	keys, err := receipt.EnsureKeys(ctx, c, ns)
	if err != nil {
		t.Fatal(err)
	}

	s3 := exporttest.Config(t)
	store, err := receipt.NewS3Store(s3)
	if err != nil {
		t.Fatal(err)
	}
	l, err := receipt.OpenLog(ctx, store, receipt.KeySigner(c, ns), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		who := grace
		if i == 2 {
			who = ada
		}
		if _, err := l.Append(ctx, requestReceipt(i, keys.FingerprintKey, who)); err != nil {
			t.Fatal(err)
		}
	}
	url := "s3://" + s3.Bucket + "/" + s3.Prefix + "?endpoint=" + s3.Endpoint + "&region=" + s3.Region + "&pathStyle=true"
	creds := []string{"AWS_ACCESS_KEY_ID=" + exporttest.AccessKey, "AWS_SECRET_ACCESS_KEY=" + exporttest.SecretKey}

	r := run(t, "", creds, "receipts", "verify", "--url", url, "--kubeconfig", kubeconfig)
	if r.code != 0 || !strings.Contains(r.stdout, "3 receipts (0 sweeps), sequences 1 to 3, checked with 1 public keys") {
		t.Fatalf("verify: %+v", r)
	}
	r = run(t, "email=ada.lovelace@example.com\n", creds, "receipts", "find", "--identity-stdin", "--url", url, "--kubeconfig", kubeconfig)
	if r.code != 0 || !strings.Contains(r.stdout, store.Location(receipt.Name(2))) || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("find: %+v", r)
	}
	noIdentity(t, r)
	// The API server's error names the namespace, a value of the command
	// line: an identity typed there is not printed.
	r = run(t, "", creds, "receipts", "verify", "--url", url, "--kubeconfig", kubeconfig, "--namespace", ada["customerId"])
	if r.code != 2 || !strings.Contains(r.stderr, "<--namespace>/"+receipt.PublicKeysConfigMap) {
		t.Fatalf("verify with the keys in another namespace: %+v", r)
	}
	noIdentity(t, r)
}

// The shipped Roles are enough, and no more: an auditor bound to
// receipt-auditor verifies but cannot read the fingerprint key; the
// privacy desk bound to receipt-fingerprinter finds a person's receipts.
func TestShippedRolesGiveEachTheirCommand(t *testing.T) {
	_, env := receipttest.APIServer(t)
	c, err := client.New(env.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns = "roles-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	keys, err := receipt.EnsureKeys(ctx, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := receipt.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := receipt.OpenLog(ctx, store, receipt.KeySigner(c, ns), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, requestReceipt(1, keys.FingerprintKey, ada)); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "receipt_auditor_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		role := &rbacv1.Role{}
		if err := yaml.Unmarshal([]byte(doc), role); err != nil {
			t.Fatal(err)
		}
		role.Namespace = ns
		if err := c.Create(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfigFor := func(user, role string) string {
		if err := c.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		}); err != nil {
			t.Fatal(err)
		}
		u, err := env.AddUser(envtest.User{Name: user}, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := u.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	auditor, desk := kubeconfigFor("auditor", "receipt-auditor"), kubeconfigFor("desk", "receipt-fingerprinter")

	if r := run(t, "", nil, "receipts", "verify", "--dir", dir, "--kubeconfig", auditor, "--namespace", ns); r.code != 0 {
		t.Errorf("the auditor verifies: %+v", r)
	}
	r := run(t, "email=ada.lovelace@example.com\n", nil, "receipts", "find", "--identity-stdin", "--dir", dir, "--kubeconfig", auditor, "--namespace", ns)
	if r.code != 2 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("the auditor may not read the fingerprint key: %+v", r)
	}
	noIdentity(t, r)
	r = run(t, "email=ada.lovelace@example.com\n", nil, "receipts", "find", "--identity-stdin", "--dir", dir, "--kubeconfig", desk, "--namespace", ns)
	if r.code != 0 || !strings.Contains(r.stdout, store.Location(receipt.Name(1))) {
		t.Errorf("the privacy desk finds the receipt: %+v", r)
	}
	noIdentity(t, r)
}
