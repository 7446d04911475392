// Package testenv starts a real kube-apiserver and etcd with this operator's
// CRDs installed, for the envtest suites. It is the local stack's control
// plane (internal/devtools/localstack) in a temporary directory, so that the
// tests start the control plane exactly as `make demo` does.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
)

// RepoRoot is the root of this repository, found from this file's path so
// that suites in any package directory find config/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Env is a running control plane: Config reaches it as a cluster admin,
// KubeconfigPath is a kubeconfig file for the same admin, for kubectl.
type Env struct {
	*localstack.ControlPlane
	dir string
}

// Start starts etcd and kube-apiserver and installs the CRDs of config/crd/bases.
// The binaries come from KUBEBUILDER_ASSETS (set by `make test`), else from
// the setup-envtest cache that hack/envtest-binaries.sh fills.
func Start() (*Env, error) {
	assets, err := localstack.Assets()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "privacy-operator-envtest-")
	if err != nil {
		return nil, err
	}
	cp, err := localstack.StartControlPlane(filepath.Join(dir, "state"), assets, RepoRoot())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Env{ControlPlane: cp, dir: dir}, nil
}

// Stop stops the control plane and removes its directory.
func (e *Env) Stop() error {
	return errors.Join(e.ControlPlane.Stop(), os.RemoveAll(e.dir))
}

// Kubectl runs the kubectl built next to the control plane's binaries against
// this control plane and returns its combined output.
func (e *Env) Kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(e.Assets, "kubectl"), append([]string{"--kubeconfig", e.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
