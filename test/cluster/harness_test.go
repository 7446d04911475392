package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The cluster's facts, from `hack/cluster/cluster.sh env`.
type clusterEnv struct {
	kubeconfig, nodeIP, dir, kubectl, helm string
}

var (
	repo    = testenv.RepoRoot()
	script  = filepath.Join(repo, "hack", "cluster", "cluster.sh")
	cluster clusterEnv
	// plugin is kubectl-privacy, built for the suite.
	plugin string
)

// run runs a command with stdin and returns its standard output; on
// failure the test fails with the command, its exit and its standard error.
func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	out, err := runWith(stdin, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// runEnv is run with env added to this process's environment.
func runEnv(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runWith("", env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// runErr runs a command; the error carries standard error.
func runErr(stdin string, name string, args ...string) (string, error) {
	return runWith(stdin, nil, name, args...)
}

// runWith runs a command in the repository with the cluster's kubeconfig
// and env.
func runWith(stdin string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repo
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+cluster.kubeconfig), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s%s", err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// kubectl runs the cluster's kubectl.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "", cluster.kubectl, args...)
}

// apply applies manifests given as text.
func apply(t *testing.T, namespace, manifests string) {
	t.Helper()
	args := []string{"apply", "--server-side", "-f", "-"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	run(t, manifests, cluster.kubectl, args...)
}

// helm runs the helm CLI.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "", cluster.helm, args...)
}

// jsonpath reads one field of an object, "" when it is missing.
func jsonpath(t *testing.T, path string, args ...string) string {
	t.Helper()
	out, err := runErr("", cluster.kubectl, append([]string{"get", "-o", "jsonpath=" + path}, args...)...)
	if err != nil {
		return ""
	}
	return out
}

// eventually polls check until it reports done, and fails the test with
// its last word when timeout passes first.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (done bool, state string)) {
	t.Helper()
	var state string
	gomega.NewWithT(t).Eventually(func() bool {
		var done bool
		done, state = check()
		return done
	}).WithTimeout(timeout).WithPolling(time.Second).Should(gomega.BeTrue(), func() string {
		return fmt.Sprintf("%s within %s; last seen: %s", what, timeout, state)
	})
}

// namespace creates a namespace with labels (key=value), idempotently.
func namespace(t *testing.T, name string, labels ...string) {
	t.Helper()
	apply(t, "", fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name))
	if len(labels) > 0 {
		kubectl(t, append([]string{"label", "namespace", name, "--overwrite"}, labels...)...)
	}
}

// dumpOnFailure prints, when the test failed, every pod's state and the
// last log lines of each container, and the recent Events: what a reader
// of CI output needs to see why.
func dumpOnFailure(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out, _ := runErr("", cluster.kubectl, "get", "pods", "-A", "-o", "wide")
		t.Logf("pods:\n%s", out)
		pods, _ := runErr("", cluster.kubectl, "get", "pods", "-A", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}`)
		sc := bufio.NewScanner(strings.NewReader(pods))
		for sc.Scan() {
			ns, name, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			logs, _ := runErr("", cluster.kubectl, "logs", "-n", ns, name, "--all-containers", "--tail=30", "--prefix")
			prev, _ := runErr("", cluster.kubectl, "logs", "-n", ns, name, "--all-containers", "--tail=15", "--previous")
			t.Logf("logs of %s/%s:\n%s", ns, name, logs)
			if prev != "" {
				t.Logf("logs of %s/%s before its last restart:\n%s", ns, name, prev)
			}
		}
		events, _ := runErr("", cluster.kubectl, "get", "events", "-A", "--sort-by=.lastTimestamp")
		if lines := strings.Split(events, "\n"); len(lines) > 40 {
			events = strings.Join(lines[len(lines)-40:], "\n")
		}
		t.Logf("recent events:\n%s", events)
	})
}

// imageArchive is `make image`'s (or `make example-image`'s) docker
// archive of this machine's platform.
func imageArchive(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(repo, "bin", dir, "image-"+runtime.GOOS+"-"+runtime.GOARCH+".tar")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run make image example-image first (make cluster-test does)", err)
	}
	return p
}
