package e2e_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Commands of the README's sh blocks that other specs (or CI) run; every
// other command of those blocks is run here.
var runElsewhere = map[string]string{
	"make demo":       "commands_test.go runs it with DEMO_ONCE=1",
	"make test":       ".ci/run runs it",
	"make local-up":   "commands_test.go",
	"make run":        "commands_test.go, against the local control plane",
	"make local-down": "commands_test.go",
	"make deploy IMG=registry.example.com/privacy-operator:v0.1.0":          "commands_test.go, against the local control plane",
	`export KUBEBUILDER_ASSETS="$(hack/envtest-binaries.sh)"`:               "make test does this",
	"go test ./controllers/ -run TestControllers -v":                        "make test runs ./controllers",
	"make image IMG=registry.example.com/privacy-operator:v0.1.0":           "test/install builds the image as make image does",
	"crane push bin/image/oci registry.example.com/privacy-operator:v0.1.0": "test/install pushes the layout with crane's push command",
	"helm install privacy-operator charts/privacy-operator --namespace privacy-operator-system --create-namespace --set image.repository=registry.example.com/privacy-operator --set image.tag=v0.1.0": "test/install renders the chart with the Helm library and applies it with a server-side dry run",
	"kubectl apply --server-side -f dist/install.yaml": "test/install applies it with a server-side dry run; test/cluster on a real cluster",
}

// The README's "On a cluster without ReadWriteMany storage" block, which
// test/cluster runs on a real cluster (readmeInstall there).
var runOnCluster = []string{
	"kubectl create namespace privacy-operator-system",
	"kubectl label namespace privacy-operator-system pod-security.kubernetes.io/enforce=restricted",
	"kubectl create secret generic s3-credentials -n privacy-operator-system --from-literal=AWS_ACCESS_KEY_ID=... --from-literal=AWS_SECRET_ACCESS_KEY=...",
	"helm install privacy-operator charts/privacy-operator --namespace privacy-operator-system --set exports.url='s3://privacy/exports?endpoint=https://s3.example.com&pathStyle=true&region=us-east-1' --set receipts.url='s3://privacy/receipts?endpoint=https://s3.example.com&pathStyle=true&region=us-east-1' --set exports.credentialsSecret=s3-credentials --wait",
}

func init() {
	for _, c := range runOnCluster {
		runElsewhere[c] = "test/cluster runs it on a real cluster"
	}
}

// readmeCommands returns the lines of the README's ```sh blocks.
func readmeCommands() []string {
	GinkgoHelper()
	f, err := os.Open(filepath.Join(repo, "README.md"))
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var cmds []string
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh":
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in && line != "" && !strings.HasPrefix(line, "#"):
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// readmeBlock returns the commands of the first ```sh block after the
// line heading.
func readmeBlock(heading string) []string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	Expect(err).NotTo(HaveOccurred())
	_, after, found := strings.Cut(string(b), "\n"+heading+"\n")
	Expect(found).To(BeTrue(), "README has no %q", heading)
	_, block, found := strings.Cut(after, "```sh\n")
	Expect(found).To(BeTrue(), "README's %q has no sh block", heading)
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for line := range strings.Lines(block) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	Expect(cmds).NotTo(BeEmpty())
	return cmds
}

var _ = Describe("The README", func() {
	It("has no command that no test runs, and its kubectl commands work as written", func() {
		cmds := readmeCommands()
		Expect(cmds).To(ContainElement("make demo"))
		outputs := map[string]string{}
		for _, c := range cmds {
			if _, ok := runElsewhere[c]; ok {
				continue
			}
			Expect(c).To(HavePrefix("kubectl "), "README command %q is run by no test: run it here or in another spec", c)
			sh := exec.Command("sh", "-c", c)
			sh.Dir = repo
			sh.Env = append(os.Environ(), "KUBECONFIG="+cp.KubeconfigPath, "PATH="+assets+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := sh.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "README command %q:\n%s", c, out)
			outputs[c] = string(out)
			GinkgoWriter.Printf("$ %s\n%s", c, out)
		}

		list := squash(outputs["kubectl get privacy -A"])
		for _, want := range []string{
			"NAMESPACE NAME READY REASON SUSPENDED TYPES ENDPOINT AGE",
			"NAME TYPE PHASE REASON SOURCES DUE OVERDUE AGE",
			"NAME RETAIN-FOR SCHEDULE LAST-RUN MATCHED AGE",
			"default datasource.privacyoperator.io/billing False NamespaceNotAllowed",
			"privacyrequest.privacyoperator.io/access-2026-0042 Access",
			"retentionpolicy.privacyoperator.io/usage-400d 400d 0 3 * * *",
		} {
			Expect(list).To(ContainSubstring(want))
		}
		Expect(outputs["kubectl describe privacyrequest optout-2026-0045"]).To(MatchRegexp(`(?s)Sources:.*Job ID:.*Phase:\s+(Completed|NotFound).*Events:.*Request completed at all 1 data sources`))
		// Once its namespace is labelled, the operator tries the sample
		// DataSource's endpoint, which does not exist here.
		Eventually(func() string {
			out, _ := kubectl("get", "datasource", "billing", "-n", "default", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
			return out
		}).WithTimeout(time.Minute).Should(Equal("EndpointUnreachable"))
	})
})
