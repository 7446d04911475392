// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with this operator's CRDs installed, for the envtest suites.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/privacyoperator/privacy-operator/internal/localstack"
)

// RepoRoot is the root of this repository, found from this file's path so
// that suites in any package directory find config/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file for the same admin, for kubectl.
	KubeconfigPath string
	dir            string
}

// Start starts etcd and kube-apiserver and installs the CRDs of config/crd/bases.
// The binaries come from KUBEBUILDER_ASSETS (set by `make test`), else from
// the setup-envtest cache that hack/envtest-binaries.sh fills.
func Start() (*Env, error) {
	assets, err := assetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest control plane from %s: %w", assets, err)
	}
	e := &Env{Environment: env, Config: cfg}
	if err := e.writeKubeconfig(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the control plane and removes the kubeconfig file.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	if e.dir != "" {
		err = errors.Join(err, os.RemoveAll(e.dir))
	}
	return err
}

// Kubectl runs the kubectl built next to the control plane's binaries against
// this control plane and returns its combined output.
func (e *Env) Kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(e.BinaryAssetsDirectory, "kubectl"), append([]string{"--kubeconfig", e.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

func (e *Env) writeKubeconfig() error {
	user, err := e.AddUser(envtest.User{Name: "envtest-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add envtest admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("build kubeconfig: %w", err)
	}
	if e.dir, err = os.MkdirTemp("", "privacy-operator-envtest-"); err != nil {
		return err
	}
	e.KubeconfigPath = filepath.Join(e.dir, "kubeconfig")
	return os.WriteFile(e.KubeconfigPath, kubeconfig, 0o600)
}

func assetsDir() (string, error) { return localstack.Assets() }
