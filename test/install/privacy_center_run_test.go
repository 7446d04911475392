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
	dir := t.TempDir()
	bin := filepath.Join(dir, "privacy-center")
	build := exec.Command("go", "build", "-o", bin, "./cmd/privacy-center")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/privacy-center: %v\n%s", err, out)
	}

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

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var log testenv.SyncBuffer
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.yaml"), "--keys-dir", filepath.Join(dir, "keys"), "--bind-address", addr)
	cmd.Env = []string{"KUBECONFIG=" + filepath.Join(dir, "kubeconfig"), "POD_NAMESPACE=" + packaging.DefaultRelease.Namespace, "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the center's log:\n%s", log.String())
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	running := func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the center stopped: %v\n%s", err, log.String())
		default:
		}
		return nil
	}
	eventuallyWithin(t, time.Minute, func() error {
		_ = running()
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	eventuallyWithin(t, time.Minute, func() error {
		_ = running()
		lease := &coordinationv1.Lease{}
		if err := admin.Get(context.Background(), client.ObjectKey{Namespace: packaging.DefaultRelease.Namespace, Name: "privacy-center-notices"}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("the Lease privacy-center-notices has no holder")
		}
		if !strings.Contains(log.String(), "Starting workers") {
			return errors.New("the notices' controller has not started its workers (its watch has not synced)")
		}
		return nil
	})
	if strings.Contains(strings.ToLower(log.String()), "forbidden") {
		t.Errorf("the center was refused something:\n%s", log.String())
	}
}
