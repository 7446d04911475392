// Package e2e_test runs Privacy Operator as its users run it: a real API
// server (the local stack's control plane), the operator built as a binary
// and running as a process of its own, data sources as HTTP servers, and
// every action taken with kubectl (built by hack/envtest-binaries.sh) or
// HTTP. Nothing here calls the operator's Go code.
package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/privacyoperator/privacy-operator/internal/devtools/demo/fixtures"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var (
	ctx     context.Context
	repo    = testenv.RepoRoot()
	assets  string
	binDir  string
	cp      *localstack.ControlPlane
	op      *localstack.Operator
	shop    *localstack.SQLSource
	counter *countingSource
	people  = fixtures.People(120)
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end suite")
}

var _ = BeforeSuite(func() {
	ctx = context.Background()
	var err error
	assets, err = localstack.Assets()
	Expect(err).NotTo(HaveOccurred())

	binDir = GinkgoT().TempDir()
	for name, pkg := range map[string]string{"manager": "./cmd/manager", "sql-datasource": "./cmd/sql-datasource"} {
		build := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
		build.Dir = repo
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build %s: %s", pkg, out)
	}

	dir := GinkgoT().TempDir()
	cp, err = localstack.StartControlPlane(filepath.Join(dir, "stack"), assets, repo)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(cp.Stop()).To(Succeed()) })

	op, err = localstack.StartOperator(ctx, cp, filepath.Join(binDir, "manager"))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(op.Stop)

	db := filepath.Join(cp.Dir, "shop.db")
	Expect(fixtures.SeedShop(db, people, time.Now())).To(Succeed())
	shop, err = localstack.StartSQLSource(ctx, cp.Dir, "shop", filepath.Join(binDir, "sql-datasource"), db, fixtures.ShopMapping)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(shop.Stop)
	apply(shop.Manifest("shop-e2e", []string{"Access", "Delete", "Correct", "OptOut", "Purge"}, []string{"email", "userId"}, []string{"billing", "contact", "usage"}))

	counter = startCountingSource()
	apply(counter.manifest("counter-e2e"))

	for _, ns := range []string{"shop-e2e", "counter-e2e"} {
		ds := "datasource/" + strings.TrimSuffix(ns, "-e2e")
		out, err := kubectl("wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, ds)
		Expect(err).NotTo(HaveOccurred(), out)
	}
})

// When a spec fails, show the end of the operator's log and the requests.
var _ = ReportAfterEach(func(r SpecReport) {
	if !r.Failed() || op == nil {
		return
	}
	logs, _ := os.ReadFile(op.LogPath)
	if len(logs) > 64<<10 {
		logs = logs[len(logs)-64<<10:]
	}
	list, _ := kubectl("get", "privacyrequests", "-o", "wide")
	fmt.Fprintf(os.Stderr, "\n--- %s failed; operator log (end):\n%s\n--- privacyrequests:\n%s\n", r.FullText(), logs, list)
})

// kubectl runs the kubectl built for this control plane against it.
func kubectl(args ...string) (string, error) {
	return kubectlIn("", args...)
}

// kubectlIn runs kubectl with stdin.
func kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// apply applies YAML with kubectl.
func apply(manifest string) {
	GinkgoHelper()
	out, err := kubectlIn(manifest, "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred(), out)
}

// getJSON reads an object with kubectl get -o json.
func getJSON(args ...string) *unstructured.Unstructured {
	GinkgoHelper()
	out, err := kubectl(append([]string{"get", "-o", "json"}, args...)...)
	Expect(err).NotTo(HaveOccurred(), out)
	obj := &unstructured.Unstructured{}
	Expect(obj.UnmarshalJSON([]byte(out))).To(Succeed())
	return obj
}

// request is a PrivacyRequest manifest for one person, at the sources
// labelled app.kubernetes.io/name=source (at every matching source when
// source is empty); extra is more of the spec.
func request(name, typ, email, source, extra string) string {
	m := fmt.Sprintf(`apiVersion: privacyoperator.io/v1alpha1
kind: PrivacyRequest
metadata:
  name: %s
spec:
  type: %s
  subject:
    identities: {email: %q}
`, name, typ, email)
	if source != "" {
		m += "  dataSourceSelector:\n    matchLabels: {app.kubernetes.io/name: " + source + "}\n"
	}
	return m + extra
}
