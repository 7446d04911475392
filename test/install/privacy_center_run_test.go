package install_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// runCenter runs cmd/privacy-center as the chart runs it (its rendered
// configuration, a key as the keys Secret holds one, POD_NAMESPACE) with
// the ServiceAccount's token, so that the chart's RBAC, not a dry run, says
// whether it can work: it must answer /healthz, win the Lease
// privacy-center-notices and start the notices' controller (whose watch of
// PrivacyRequests syncs only with list and watch), with no "forbidden" in
// its log. The SMTP credential files are left out (no server is reached).
func runCenter(t *testing.T, admin client.Client, sa *rest.Config, objs []*unstructured.Unstructured) {
	home := centerHome(t, sa, objs, nil)
	c := startCenter(t, buildCenter(t), home)
	eventuallyWithin(t, time.Minute, func() error {
		c.running(t)
		lease := &coordinationv1.Lease{}
		if err := admin.Get(context.Background(), client.ObjectKey{Namespace: packaging.DefaultRelease.Namespace, Name: "privacy-center-notices"}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("the Lease privacy-center-notices has no holder")
		}
		if !strings.Contains(c.log.String(), "Starting workers") {
			return errors.New("the notices' controller has not started its workers (its watch has not synced)")
		}
		return nil
	})
	if strings.Contains(strings.ToLower(c.log.String()), "forbidden") {
		t.Errorf("the center was refused something:\n%s", c.log.String())
	}
}

// buildCenter builds cmd/privacy-center.
func buildCenter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "privacy-center")
	build := exec.Command("go", "build", "-o", bin, "./cmd/privacy-center")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/privacy-center: %v\n%s", err, out)
	}
	return bin
}

// centerHome writes what the chart mounts into the center's pods (its
// rendered configuration, edited by edit; a sealing key) and a kubeconfig
// with the ServiceAccount's token, into a directory replicas share.
func centerHome(t *testing.T, sa *rest.Config, objs []*unstructured.Unstructured, edit func(cfg map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	var cfg map[string]any
	for _, o := range ofKind(objs, "ConfigMap") {
		if o.GetName() == centerName {
			data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
			if err := yaml.Unmarshal([]byte(data), &cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	smtp, _ := cfg["smtp"].(map[string]any)
	delete(smtp, "usernameFile")
	delete(smtp, "passwordFile")
	if edit != nil {
		edit(cfg)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["envtest"] = &clientcmdapi.Cluster{Server: sa.Host, CertificateAuthorityData: sa.CAData}
	kubeconfig.AuthInfos["center"] = &clientcmdapi.AuthInfo{Token: sa.BearerToken}
	kubeconfig.Contexts["center"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "center"}
	kubeconfig.CurrentContext = "center"
	configYAML, err := yaml.Marshal(cfg)
	if err == nil {
		err = errors.Join(os.Mkdir(filepath.Join(dir, "keys"), 0o700),
			os.WriteFile(filepath.Join(dir, "keys", "k1"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600),
			os.WriteFile(filepath.Join(dir, "config.yaml"), configYAML, 0o600),
			clientcmd.WriteToFile(*kubeconfig, filepath.Join(dir, "kubeconfig")))
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// centerProcess is one replica of the center.
type centerProcess struct {
	addr   string
	log    *testenv.SyncBuffer
	cmd    *exec.Cmd
	exited chan error
}

// startCenter starts a replica of bin with home's files on a free port
// and waits until it answers /healthz; the test's end stops it.
func startCenter(t *testing.T, bin, home string) *centerProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &centerProcess{addr: l.Addr().String(), log: &testenv.SyncBuffer{}, exited: make(chan error, 1)}
	l.Close()
	c.cmd = exec.Command(bin, "--config", filepath.Join(home, "config.yaml"), "--keys-dir", filepath.Join(home, "keys"), "--bind-address", c.addr)
	c.cmd.Env = []string{"KUBECONFIG=" + filepath.Join(home, "kubeconfig"), "POD_NAMESPACE=" + packaging.DefaultRelease.Namespace, "HOME=" + home}
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the center's log (%s):\n%s", c.addr, c.log.String())
		}
		c.stop()
	})
	eventuallyWithin(t, time.Minute, func() error {
		c.running(t)
		resp, err := http.Get("http://" + c.addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	return c
}

// running fails the test when the replica stopped.
func (c *centerProcess) running(t *testing.T) {
	select {
	case err := <-c.exited:
		c.exited <- err
		t.Fatalf("the center stopped: %v\n%s", err, c.log.String())
	default:
	}
}

// stop stops the replica as Kubernetes does (SIGTERM, then SIGKILL).
func (c *centerProcess) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		c.exited <- err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}
