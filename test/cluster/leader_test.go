package cluster_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leaseName is the manager's leader election Lease.
const leaseName = "privacy-operator.privacyoperator.io"

// awsEnv are the S3 credentials of the node's server, for the plugin.
var awsEnv = []string{"AWS_ACCESS_KEY_ID=" + s3Access, "AWS_SECRET_ACCESS_KEY=" + s3Secret}

// exportAndReceipts reads Ada's export out of the bucket with kubectl
// privacy (which checks its sha256 and size against the status) and
// verifies the receipt log's chain and signatures with the public keys the
// operator published.
func exportAndReceipts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ada.json")
	runEnv(t, awsEnv, plugin, "export", "access-ada", "-o", file,
		"--s3-endpoint", s3Endpoint, "--s3-path-style", "--s3-region", "us-east-1")
	export, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Ada Lovelace", "12 St James's Square", `"subscribed":true`} {
		if !strings.Contains(string(export), want) {
			t.Errorf("the export lacks %q:\n%s", want, export)
		}
	}
	requests := []string{"access-ada", "correct-ada", "optout-ada", "delete-ada", "access-ada-after-delete"}
	for _, name := range requests {
		eventually(t, time.Minute, "the receipt of "+name, func() (bool, string) {
			seq := jsonpath(t, "{.status.receipt.sequence}", "privacyrequest", name)
			return seq != "", seq
		})
	}
	out := runEnv(t, awsEnv, plugin, "receipts", "verify", "--url", s3URL("receipts"))
	if !strings.Contains(out, "no break") {
		t.Errorf("receipts verify: %s", out)
	}
}

// leader is the pod that holds the Lease.
func leader(t *testing.T) string {
	t.Helper()
	var pod string
	eventually(t, time.Minute, "a leader", func() (bool, string) {
		holder := jsonpath(t, "{.spec.holderIdentity}", "lease", leaseName, "-n", operatorNS)
		pod, _, _ = strings.Cut(holder, "_")
		return pod != "" && jsonpath(t, "{.status.phase}", "pod", pod, "-n", operatorNS) == "Running", holder
	})
	return pod
}

// leaderPodDeleted deletes the leader's pod (it gives up the Lease as it
// stops) and, once it is gone, asks for a request: a follower serves it.
func leaderPodDeleted(t *testing.T) {
	old := leader(t)
	start := time.Now()
	kubectl(t, "delete", "pod", old, "-n", operatorNS, "--wait=true")
	request(t, "access-grace-after-pod-delete", "  type: Access\n  subject:\n    identities:\n      email: grace@example.com\n")
	t.Logf("a request created once the leader's pod was gone completed %s after the delete began", time.Since(start).Round(100*time.Millisecond))
	if now := leader(t); now == old {
		t.Errorf("the deleted pod %s still leads", old)
	}
}

// leaderKilled SIGKILLs the leader's manager process from the node: the
// Lease is not given up and expires (15 s); a follower takes over.
func leaderKilled(t *testing.T) {
	old := leader(t)
	uid := jsonpath(t, "{.metadata.uid}", "pod", old, "-n", operatorNS)
	pid := managerPID(t, uid)
	before := jsonpath(t, "{.spec.leaseTransitions}", "lease", leaseName, "-n", operatorNS)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	took := request(t, "access-grace-after-kill", "  type: Access\n  subject:\n    identities:\n      email: grace@example.com\n")
	t.Logf("a request created as the leader's process was killed completed in %s", took.Round(100*time.Millisecond))
	// The Lease changed hands: a follower (or the restarted process, under
	// a new identity) took it after it expired.
	if got := jsonpath(t, "{.spec.leaseTransitions}", "lease", leaseName, "-n", operatorNS); got == before {
		t.Errorf("the Lease did not change hands after its holder was killed (leaseTransitions still %s)", got)
	}
	eventually(t, time.Minute, "the killed container restarted", func() (bool, string) {
		restarts := jsonpath(t, "{.status.containerStatuses[0].restartCount}", "pod", old, "-n", operatorNS)
		return restarts != "" && restarts != "0", restarts
	})
}

// managerPID finds the manager process of the pod with uid on this node:
// the process named manager whose cgroup names the pod.
func managerPID(t *testing.T, uid string) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		comm, err := os.ReadFile(filepath.Join(p, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "manager" {
			continue
		}
		cgroup, err := os.ReadFile(filepath.Join(p, "cgroup"))
		if err != nil || !strings.Contains(string(cgroup), uid) && !strings.Contains(string(cgroup), strings.ReplaceAll(uid, "-", "_")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		return pid
	}
	t.Fatalf("no manager process of pod %s on the node", uid)
	return 0
}
