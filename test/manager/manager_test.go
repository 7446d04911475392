// Package manager_test runs the manager binary built from cmd/ as its own
// process against a real API server, as `make run` and a Deployment do: it
// must start all three controllers, serve health probes and metrics, and
// take the leader election lease.
package manager_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	. "github.com/onsi/gomega"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// managerIdentity creates a user that has exactly the manager's RBAC from
// config/rbac (the generated ClusterRole and the leader election Role) and
// returns a kubeconfig for it, so the manager runs with least privilege.
func managerIdentity(t *testing.T, env *testenv.Env) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "privacy-operator-manager"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	rbac := filepath.Join(testenv.RepoRoot(), "config", "rbac")
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(rbac, "role.yaml")},
		{"create", "clusterrolebinding", "manager-test", "--clusterrole=manager-role", "--user=privacy-operator-manager"},
		{"create", "namespace", "system"},
		{"apply", "-f", filepath.Join(rbac, "leader_election_role.yaml")},
		{"create", "rolebinding", "leader-election-test", "-n", "system", "--role=leader-election-role", "--user=privacy-operator-manager"},
		{"apply", "-f", filepath.Join(rbac, "callback_ca_role.yaml")},
		{"create", "rolebinding", "callback-ca-test", "-n", "system", "--role=callback-ca-role", "--user=privacy-operator-manager"},
	} {
		if out, err := env.Kubectl(args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	return path
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestManagerProcess(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })

	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = testenv.RepoRoot()
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "go build ./cmd/manager: %s", out)

	kubeconfig := managerIdentity(t, env)
	probeAddr, metricsAddr, callbackAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs := &strings.Builder{}
	mgr := exec.CommandContext(ctx, bin,
		"--kubeconfig", kubeconfig,
		"--leader-elect", "--leader-election-namespace", "system",
		"--health-probe-bind-address", probeAddr,
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--callback-bind-address", callbackAddr, "--export-dir", t.TempDir(), "--receipt-dir", t.TempDir(),
	)
	// The manager's namespace (the Deployment sets POD_NAMESPACE): its own
	// callback CA lives there.
	mgr.Env = append(os.Environ(), "POD_NAMESPACE=system")
	mgr.Stdout, mgr.Stderr = logs, logs
	mgr.Cancel = func() error { return mgr.Process.Signal(os.Interrupt) }
	mgr.WaitDelay = 10 * time.Second
	g.Expect(mgr.Start()).To(Succeed())
	t.Cleanup(func() {
		cancel()
		_ = mgr.Wait()
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})

	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(privacyv1alpha1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	t.Run("serves health probes", func(t *testing.T) {
		g := NewWithT(t)
		for _, path := range []string{"/healthz", "/readyz"} {
			g.Eventually(func() (int, error) {
				code, _, err := httpGet("http://" + probeAddr + path)
				return code, err
			}, 30*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK), path)
		}
	})

	t.Run("takes the leader election lease", func(t *testing.T) {
		g := NewWithT(t)
		lease := &coordinationv1.Lease{}
		g.Eventually(func(g Gomega) {
			g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "system", Name: "privacy-operator.privacyoperator.io"}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	t.Run("runs all three controllers", func(t *testing.T) {
		g := NewWithT(t)
		ds := &privacyv1alpha1.DataSource{
			ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "default"},
			Spec: privacyv1alpha1.DataSourceSpec{
				Endpoint:         privacyv1alpha1.Endpoint{URL: "https://billing.example.com/privacy"},
				SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "billing-signing"},
				RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess},
				Identities:       []privacyv1alpha1.IdentityType{"email"},
			},
		}
		pr := &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "access-ada"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type:    privacyv1alpha1.RequestTypeAccess,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
			},
		}
		rp := &privacyv1alpha1.RetentionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "usage-400d"},
			Spec: privacyv1alpha1.RetentionPolicySpec{
				Categories: []privacyv1alpha1.DataCategory{"usage"}, RetainFor: "400d", Schedule: "0 3 * * *",
			},
		}
		objs := []struct {
			obj        client.Object
			conditions func() []metav1.Condition
		}{
			{ds, func() []metav1.Condition { return ds.Status.Conditions }},
			{pr, func() []metav1.Condition { return pr.Status.Conditions }},
			{rp, func() []metav1.Condition { return rp.Status.Conditions }},
		}
		for _, o := range objs {
			g.Expect(c.Create(context.Background(), o.obj)).To(Succeed())
		}
		for _, o := range objs {
			g.Eventually(func(g Gomega) {
				g.Expect(c.Get(context.Background(), client.ObjectKeyFromObject(o.obj), o.obj)).To(Succeed())
				g.Expect(meta.FindStatusCondition(o.conditions(), privacyv1alpha1.ConditionReady)).NotTo(BeNil(),
					"%T %s has no Ready condition", o.obj, o.obj.GetName())
			}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		}
	})

	t.Run("creates its receipt keys with the rights of config/rbac and publishes the public key", func(t *testing.T) {
		g := NewWithT(t)
		cm := &corev1.ConfigMap{}
		g.Eventually(func(g Gomega) {
			g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "system", Name: receipt.PublicKeysConfigMap}, cm)).To(Succeed())
			keys, err := receipt.PublicKeys(cm)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(keys).To(HaveLen(1))
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		for _, name := range []string{receipt.SigningKeySecret, receipt.FingerprintKeySecret} {
			g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "system", Name: name}, &corev1.Secret{})).To(Succeed(), name)
		}
	})

	t.Run("serves callbacks over TLS by default, under the CA it publishes", func(t *testing.T) {
		g := NewWithT(t)
		cm := &corev1.ConfigMap{}
		g.Eventually(func() error {
			return c.Get(context.Background(), client.ObjectKey{Namespace: "system", Name: "privacy-operator-callback-ca"}, cm)
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		pool := x509.NewCertPool()
		g.Expect(pool.AppendCertsFromPEM([]byte(cm.Data["ca.crt"]))).To(BeTrue(), "ca.crt holds the CA")
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
		g.Eventually(func() (int, error) {
			resp, err := hc.Post("https://"+callbackAddr+"/callbacks/pr-unknown", "application/json", strings.NewReader("{}"))
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(http.StatusNotFound), "a verified TLS handshake, then the listener's own answer")
	})

	t.Run("needs no permission beyond config/rbac", func(t *testing.T) {
		if strings.Contains(strings.ToLower(logs.String()), "forbidden") {
			t.Errorf("the manager was refused something its generated RBAC does not grant:\n%s", logs.String())
		}
	})

	t.Run("serves metrics of each controller", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(func(g Gomega) {
			code, body, err := httpGet("http://" + metricsAddr + "/metrics")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK))
			g.Expect(body).To(ContainSubstring("privacyoperator_overdue_requests 0"))
			g.Expect(body).To(ContainSubstring(`privacyoperator_retention_schedule_period_seconds{policy="usage-400d"} 86400`))
			// Each controller has reconciled the object created above at least once.
			for _, name := range []string{"datasource", "privacyrequest", "retentionpolicy"} {
				g.Expect(body).To(MatchRegexp(`(?m)^controller_runtime_reconcile_total\{controller=%q,result="(success|requeue_after)"\} [1-9]`, name))
			}
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
	})
}
