package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubectlInstall applies dist/install.yaml, as the README's "With
// kubectl alone" says, to a fresh cluster. dist/install.yaml asks for
// ReadWriteMany volumes (two replicas share exports and receipts): the
// cluster offers its node's directories as such, which one node makes true,
// in place of NFS-like storage. A request at the SDK example completes and
// its export and receipt are on the shared volumes.
func TestKubectlInstall(t *testing.T) {
	if err := clusterScript("reset"); err != nil {
		t.Fatal(err)
	}
	if err := clusterUp("ReadWriteOnce,ReadWriteMany"); err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t)
	run(t, "", script, "import", imageArchive(t, "image"))
	run(t, "", script, "import", imageArchive(t, "example-image"))

	kubectl(t, "apply", "--server-side", "-f", "dist/install.yaml")
	if got := jsonpath(t, "{.metadata.labels.pod-security\\.kubernetes\\.io/enforce}", "namespace", operatorNS); got != "restricted" {
		t.Errorf("dist/install.yaml's namespace enforces %q, want restricted", got)
	}
	kubectl(t, "rollout", "status", "deployment/"+manager, "-n", operatorNS, "--timeout=3m")
	if got := jsonpath(t, "{.status.readyReplicas}", "deployment", manager, "-n", operatorNS); got != "2" {
		t.Fatalf("ready replicas: %q, want 2", got)
	}

	namespace(t, "newsletter", "privacyoperator.io/datasource=true", "pod-security.kubernetes.io/enforce=restricted")
	kubectl(t, "create", "secret", "generic", "newsletter-privacy-signing", "-n", "newsletter",
		"--from-literal=signingSecret="+secret(t, "whsec_", 32))
	kubectl(t, "apply", "-k", "examples/sdk-datasource", "-n", "newsletter")
	eventually(t, 2*time.Minute, "DataSource newsletter Ready", func() (bool, string) {
		ready := jsonpath(t, `{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`,
			"datasource", "newsletter", "-n", "newsletter")
		return strings.HasPrefix(ready, "True"), ready
	})

	request(t, "access-grace", "  type: Access\n  subject:\n    identities:\n      email: grace@example.com\n")
	if got := sourceRecords(t, "access-grace"); got != "newsletter=Completed/1" {
		t.Errorf("access-grace sources: %s", got)
	}
	if loc := jsonpath(t, "{.status.export.location}", "privacyrequest", "access-grace"); !strings.HasPrefix(loc, "/var/lib/privacy-operator/exports/") {
		t.Errorf("export location %q, want on the exports volume", loc)
	}
	var loc string
	eventually(t, time.Minute, "the receipt of access-grace", func() (bool, string) {
		loc = jsonpath(t, "{.status.receipt.location}", "privacyrequest", "access-grace")
		return strings.HasPrefix(loc, "/var/lib/privacy-operator/receipts/"), loc
	})
	// Both are files on the node's volumes, where the claims are bound.
	for claim, path := range map[string]string{
		"privacy-operator-receipts": strings.TrimPrefix(loc, "/var/lib/privacy-operator/receipts/"),
		"privacy-operator-exports":  strings.TrimPrefix(jsonpath(t, "{.status.export.location}", "privacyrequest", "access-grace"), "/var/lib/privacy-operator/exports/"),
	} {
		pv := jsonpath(t, "{.spec.volumeName}", "pvc", claim, "-n", operatorNS)
		dir := jsonpath(t, "{.spec.local.path}", "pv", pv)
		if _, err := os.Stat(filepath.Join(dir, path)); err != nil {
			t.Errorf("%s on the node: %v", claim, err)
		}
	}
}
