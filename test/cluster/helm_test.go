package cluster_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	release    = "privacy-operator"
	operatorNS = "privacy-operator-system"
	chart      = "charts/privacy-operator"
	manager    = "privacy-operator-controller-manager"
)

// TestHelmInstall is the README's install with Helm, on a cluster without
// ReadWriteMany storage: the two defects the install had (a root-owned
// volume, a side-loaded image) shown first, then the documented way out
// (exports and receipts in S3, two replicas), the examples' sources, every
// request type and a purge, the leader lost twice, helm upgrade and
// helm uninstall. Steps depend on the ones before: the first failure ends it.
func TestHelmInstall(t *testing.T) {
	dumpOnFailure(t)
	run(t, "", script, "import", imageArchive(t, "image"))
	run(t, "", script, "import", imageArchive(t, "example-image"))

	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"a side-loaded :latest image runs only with imagePullPolicy IfNotPresent", sideLoadedImage},
		{"without fsGroup the manager cannot write its root-owned volume; with the chart's it can", withoutFSGroup},
		{"the README's helm install with exports and receipts in S3", helmInstall},
		{"metrics answer only a token bound to metrics-reader", metrics},
		{"the examples' data sources run as pods and are Ready", sources},
		{"every request type completes at both sources", requests},
		{"a retention purge runs to completion", purge},
		{"the export and the receipts are verified from outside the pods", exportAndReceipts},
		{"the leader's pod deleted: a request completes", leaderPodDeleted},
		{"the leader's process killed: a request completes", leaderKilled},
		{"helm upgrade with changed values", helmUpgrade},
		{"helm uninstall keeps the CRDs and what they hold", helmUninstall},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// restricted is a container securityContext the restricted profile admits.
const restricted = `
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
          seccompProfile: {type: RuntimeDefault}`

// sideLoadedImage: a :latest image without a pull policy is pulled
// (Always), which fails with no registry; with IfNotPresent the imported
// image runs. The SQL example had no pull policy (issue #24).
func sideLoadedImage(t *testing.T) {
	namespace(t, "pull-check", "pod-security.kubernetes.io/enforce=restricted")
	pod := func(name, policy string) string {
		p := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  restartPolicy: Never
  containers:
      - name: c
        image: privacy-operator:latest
        command: ["/sql-datasource", "--help"]%s`, name, restricted)
		if policy != "" {
			p += "\n        imagePullPolicy: " + policy
		}
		return p
	}
	apply(t, "pull-check", pod("default-policy", ""))
	apply(t, "pull-check", pod("if-not-present", "IfNotPresent"))
	eventually(t, time.Minute, "the pull of privacy-operator:latest fails", func() (bool, string) {
		reason := jsonpath(t, "{.status.containerStatuses[0].state.waiting.reason}", "pod", "default-policy", "-n", "pull-check")
		return reason == "ErrImagePull" || reason == "ImagePullBackOff", reason
	})
	eventually(t, time.Minute, "the imported image runs", func() (bool, string) {
		phase := jsonpath(t, "{.status.phase}", "pod", "if-not-present", "-n", "pull-check")
		return phase == "Succeeded" || phase == "Failed", phase
	})
	kubectl(t, "delete", "namespace", "pull-check", "--wait=false")
}

// withoutFSGroup installs the chart as it was before the fix (no fsGroup)
// on the cluster's root:root 0755 volumes: the manager cannot create its
// receipt directory. Then the chart with its defaults, on fresh volumes:
// the manager starts and writes its receipt directory on the volume. It goes
// in a namespace of its own, with the CRDs applied apart (CRDs the release
// kept would stay owned by it); release, namespace and CRDs are removed
// again and the volumes renewed.
func withoutFSGroup(t *testing.T) {
	const ns = "fsgroup-check"
	namespace(t, ns, "pod-security.kubernetes.io/enforce=restricted")
	kubectl(t, "apply", "--server-side", "-f", "config/crd/bases")
	oneReplica := []string{"--namespace", ns, "--set", "replicaCount=1", "--set", "crds.enabled=false", "--set", "podDisruptionBudget.enabled=false"}
	helm(t, append([]string{"install", release, chart, "--set", "podSecurityContext.fsGroup=null"}, oneReplica...)...)
	eventually(t, 2*time.Minute, "the manager fails on its volume", func() (bool, string) {
		logs, _ := runErr("", cluster.kubectl, "logs", "-n", ns, "deploy/"+manager, "--tail=20")
		prev, _ := runErr("", cluster.kubectl, "logs", "-n", ns, "deploy/"+manager, "--tail=20", "--previous")
		all := logs + prev
		return strings.Contains(all, "receipt directory") && strings.Contains(all, "permission denied"), all
	})

	// The fix: the chart's default fsGroup, on fresh root-owned volumes. (Not
	// an upgrade: a local volume's ownership is set only when no pod has it
	// mounted, and the failing pod still does while the new one starts.)
	helm(t, "uninstall", release, "--namespace", ns, "--wait")
	eventually(t, time.Minute, "the claims are gone", func() (bool, string) {
		claims := kubectl(t, "get", "pvc", "-n", ns, "-o", "name")
		return claims == "", claims
	})
	run(t, "", script, "volumes")
	helm(t, append([]string{"install", release, chart, "--wait", "--timeout", "3m"}, oneReplica...)...)
	pv := jsonpath(t, "{.spec.volumeName}", "pvc", "privacy-operator-receipts", "-n", ns)
	dir := jsonpath(t, "{.spec.local.path}", "pv", pv)
	info, err := os.Stat(filepath.Join(dir, "receipts"))
	if err != nil {
		t.Fatalf("the manager made no receipt directory on its volume %s: %v", dir, err)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || st.Gid != 65532 {
		t.Errorf("the receipt directory's group: %+v, want 65532 (fsGroup)", info.Sys())
	}

	helm(t, "uninstall", release, "--namespace", ns, "--wait")
	kubectl(t, "delete", "namespace", ns, "--wait=true")
	kubectl(t, "delete", "-f", "config/crd/bases", "--wait=true")
	run(t, "", script, "volumes")
}

// s3URL is an object-store URL of the node's S3 server for the operator.
func s3URL(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&pathStyle=true&region=us-east-1", s3Bucket, prefix, s3Endpoint)
}

// helmInstall runs the README's install for a cluster without
// ReadWriteMany storage, line by line as a shell would, with the node's S3
// server in place of the README's placeholders: two replicas, exports and
// receipts in object storage, no claims.
func helmInstall(t *testing.T) {
	lines := readmeBlock(t, "### On a cluster without ReadWriteMany storage")
	if len(lines) != 4 {
		t.Fatalf("the README's block has %d lines, the suite knows 4: %q", len(lines), lines)
	}
	placeholders := strings.NewReplacer("AWS_ACCESS_KEY_ID=...", "AWS_ACCESS_KEY_ID="+s3Access,
		"AWS_SECRET_ACCESS_KEY=...", "AWS_SECRET_ACCESS_KEY="+s3Secret, "https://s3.example.com", s3Endpoint)
	path := filepath.Dir(cluster.kubectl) + ":" + filepath.Dir(cluster.helm) + ":" + os.Getenv("PATH")
	for _, line := range lines {
		runEnv(t, []string{"PATH=" + path}, "bash", "-euo", "pipefail", "-c", placeholders.Replace(line))
	}
	if got := jsonpath(t, "{.status.readyReplicas}", "deployment", manager, "-n", operatorNS); got != "2" {
		t.Fatalf("ready replicas: %q, want 2", got)
	}
	if claims := kubectl(t, "get", "pvc", "-n", operatorNS, "-o", "name"); claims != "" {
		t.Fatalf("claims made with exports and receipts in S3: %s", claims)
	}
}

// readmeBlock is the lines of the first sh block after heading in the
// README.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the README has no heading %q", heading)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("no sh block under %q", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// helmUpgrade changes values of the running release: a third replica and
// debug logs. The rollout completes and requests are still served.
func helmUpgrade(t *testing.T) {
	helm(t, "upgrade", release, chart, "--namespace", operatorNS, "--reuse-values",
		"--set", "replicaCount=3", "--set-json", `extraArgs=["--zap-log-level=debug"]`, "--wait", "--timeout", "5m")
	if got := jsonpath(t, "{.status.readyReplicas}/{.status.updatedReplicas}", "deployment", manager, "-n", operatorNS); got != "3/3" {
		t.Fatalf("ready/updated replicas after the upgrade: %s, want 3/3", got)
	}
	if args := jsonpath(t, "{.spec.template.spec.containers[0].args}", "deployment", manager, "-n", operatorNS); !strings.Contains(args, "--zap-log-level=debug") {
		t.Fatalf("the upgrade's extraArgs are not in the manager's args: %s", args)
	}
	request(t, "access-grace-after-upgrade", "  type: Access\n  subject:\n    identities:\n      email: grace@example.com\n")
}

// helmUninstall removes the release: the manager and its objects go; the
// CRDs stay (crds.keep), and with them every request.
func helmUninstall(t *testing.T) {
	helm(t, "uninstall", release, "--namespace", operatorNS, "--wait")
	if out, err := runErr("", cluster.kubectl, "get", "deployment", manager, "-n", operatorNS); err == nil {
		t.Errorf("the manager's Deployment is still there: %s", out)
	}
	for _, crd := range []string{"datasources", "privacyrequests", "retentionpolicies", "legalholds", "privacytasks"} {
		kubectl(t, "get", "crd", crd+".privacyoperator.io")
	}
	if got := jsonpath(t, "{.status.phase}", "privacyrequest", "access-ada"); got != "Completed" {
		t.Errorf("privacyrequest access-ada after uninstall: phase %q", got)
	}
}
