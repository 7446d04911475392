// Package cluster_test installs the product on a real one-node cluster
// (hack/cluster: containerd, kubelet, kube-proxy and the control plane as
// processes of this machine) and drives it as a platform team would, with
// kubectl, helm and kubectl privacy: the chart installed as the README says,
// the examples' data sources as pods, every request type and a retention
// purge to completion, the leader lost twice, helm upgrade and uninstall,
// and dist/install.yaml on a fresh cluster.
//
// It runs when PRIVACY_TEST_CLUSTER is set (make test and make cluster-test
// set it; it needs root) and is skipped otherwise. The cluster is reset at
// the start and stopped at the end; PRIVACY_TEST_CLUSTER_KEEP=1 leaves it
// running for a look (hack/cluster/cluster.sh env tells the kubeconfig).
// NetworkPolicy is not tested: the cluster's bridge network does not
// enforce it.
package cluster_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The servers on the node that the pods use: the SQL example's PostgreSQL
// and the S3 server holding exports and receipts.
const (
	postgresPort = "55433"
	s3Port       = "57071"
	s3Bucket     = "privacy"
	s3Access     = "privacy-operator-test"
	s3Secret     = "privacy-operator-test-secret"
	podCIDR      = "10.88.0.0/16"
)

var (
	// postgresDSN is the node's PostgreSQL, as pods and this process reach it.
	postgresDSN string
	// s3Endpoint is the node's S3 server, as pods and this process reach it.
	s3Endpoint string
)

func TestMain(m *testing.M) {
	if os.Getenv("PRIVACY_TEST_CLUSTER") == "" {
		fmt.Println("test/cluster: skipped: PRIVACY_TEST_CLUSTER is not set (make test and make cluster-test set it)")
		os.Exit(0)
	}
	os.Exit(suite(m))
}

func suite(m *testing.M) int {
	if os.Getenv("PRIVACY_TEST_CLUSTER_KEEP") == "" {
		// Registered first: a cluster that came up halfway is stopped too.
		defer func() {
			if err := clusterScript("down"); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			stopServers()
		}()
	}
	if err := clusterScript("reset"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := clusterUp(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := startServers(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	plugin = filepath.Join(dir, "kubectl-privacy")
	if out, err := exec.Command("go", "build", "-C", repo, "-o", plugin, "./cmd/kubectl-privacy").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kubectl-privacy: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// clusterScript runs hack/cluster/cluster.sh with its progress on stderr.
func clusterScript(args ...string) error {
	return clusterScriptEnv(nil, args...)
}

func clusterScriptEnv(env []string, args ...string) error {
	cmd := exec.Command(script, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/cluster/cluster.sh %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// clusterUp starts the cluster (with local volumes of the given access
// modes, "" for the default) and reads its facts.
func clusterUp(pvModes string) error {
	var env []string
	if pvModes != "" {
		env = append(env, "CLUSTER_PV_MODES="+pvModes)
	}
	if err := clusterScriptEnv(env, "up"); err != nil {
		return err
	}
	out, err := exec.Command(script, "env").Output()
	if err != nil {
		return fmt.Errorf("hack/cluster/cluster.sh env: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "KUBECONFIG":
			cluster.kubeconfig = v
		case "NODE_IP":
			cluster.nodeIP = v
		case "CLUSTER_DIR":
			cluster.dir = v
		case "KUBECTL":
			cluster.kubectl = v
		case "HELM":
			cluster.helm = v
		}
	}
	if cluster.kubeconfig == "" || cluster.nodeIP == "" || cluster.kubectl == "" || cluster.helm == "" {
		return fmt.Errorf("hack/cluster/cluster.sh env said too little:\n%s", out)
	}
	return nil
}

// serverEnv places the node's servers beside the cluster's state, listening
// on the node's address, trusting the pods and the node itself.
func serverEnv() []string {
	base := filepath.Dir(filepath.Clean(cluster.dir))
	return []string{
		"PG_TEST_PORT=" + postgresPort, "PG_TEST_DIR=" + filepath.Join(base, "privacy-operator-cluster-postgres"),
		"PG_TEST_HOST=" + cluster.nodeIP, "PG_TEST_ALLOW=" + podCIDR + " " + cluster.nodeIP + "/32",
		"VGW_TEST_PORT=" + s3Port, "VGW_TEST_DIR=" + filepath.Join(base, "privacy-operator-cluster-s3"),
		"VGW_TEST_HOST=" + cluster.nodeIP, "VGW_TEST_BUCKET=" + s3Bucket,
	}
}

// startServers starts the node's servers; the S3 server starts empty, as
// receipts of an earlier run are signed with keys of a cluster that is gone.
func startServers() error {
	stopServers()
	for _, e := range serverEnv() {
		if dir, ok := strings.CutPrefix(e, "VGW_TEST_DIR="); ok {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	start := func(script string) (string, error) {
		cmd := exec.Command(filepath.Join(repo, "hack", script), "start")
		cmd.Env = append(os.Environ(), serverEnv()...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("hack/%s start: %w", script, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var err error
	if postgresDSN, err = start("postgres.sh"); err != nil {
		return err
	}
	s3Endpoint, err = start("versitygw.sh")
	return err
}

func stopServers() {
	for _, script := range []string{"postgres.sh", "versitygw.sh"} {
		cmd := exec.Command(filepath.Join(repo, "hack", script), "stop")
		cmd.Env = append(os.Environ(), serverEnv()...)
		cmd.Stderr = os.Stderr
		_ = cmd.Run()
	}
}
