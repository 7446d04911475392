package e2e_test

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Invalid samples", func() {
	// Applied with kubectl, as a person or a GitOps pipeline would: the
	// message kubectl prints must say what to fix. Each file's first line
	// is "# expect: <message>", so a new sample is tested without code.
	files, _ := filepath.Glob(filepath.Join(repo, "config", "samples", "invalid", "*.yaml"))
	It("are there to test", func() { Expect(len(files)).To(BeNumerically(">", 20)) })
	for _, file := range files {
		It("refuses "+filepath.Base(file)+" with its message", func() {
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# expect: ")
			Expect(ok).To(BeTrue(), "%s must start with a '# expect: <message>' line", file)
			out, err := kubectl("apply", "--namespace", "default", "-f", file)
			Expect(err).To(HaveOccurred(), "kubectl apply accepted %s:\n%s", file, out)
			Expect(out).To(ContainSubstring(want))
		})
	}
})

var _ = Describe("Deploy manifests", func() {
	It("are accepted by the API server (kubectl apply --dry-run=server -k config/default)", func() {
		// A server-side dry run does not create the namespace, so the
		// namespaced objects need it to exist already (the operator of the
		// local stack made it for its receipt keys).
		out, err := kubectl("create", "namespace", "privacy-operator-system")
		if err != nil {
			Expect(out).To(ContainSubstring("AlreadyExists"))
		}
		out, err = kubectl("apply", "--dry-run=server", "-k", filepath.Join(repo, "config", "default"))
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("deployment.apps/privacy-operator-controller-manager created (server dry run)"))
		Expect(out).To(ContainSubstring("clusterrole.rbac.authorization.k8s.io/privacy-operator-manager-role created (server dry run)"))
	})

	It("include the SQL data source example (kubectl apply -k examples/sql-datasource)", func() {
		out, err := kubectl("create", "namespace", "example-e2e")
		Expect(err).NotTo(HaveOccurred(), out)
		out, err = kubectl("apply", "--namespace", "example-e2e", "-k", filepath.Join(repo, "examples", "sql-datasource"))
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("deployment.apps/shop-privacy created"))
		Expect(out).To(ContainSubstring("datasource.privacyoperator.io/shop created"))
	})
})
