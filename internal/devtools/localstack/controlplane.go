// Package localstack runs Privacy Operator on one machine, with no cluster
// and no container engine: a control plane (etcd and kube-apiserver through
// controller-runtime's envtest), the operator and SQL data sources as
// processes of their own.
//
// Everything lives under one state directory, and every process started
// here names that directory on its command line. That is how a later start
// finds what a crashed or killed one left behind (StopLeftovers) and begins
// from a clean state, and how `down` works from a new process.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is a running etcd and kube-apiserver with the operator's
// CRDs installed.
type ControlPlane struct {
	// Dir holds the control plane's data, certificates, logs and kubeconfig.
	Dir string
	// KubeconfigPath reaches the API server as a cluster admin.
	KubeconfigPath string
	// Config is the same admin's rest config.
	Config *rest.Config
	// Assets is the folder of the envtest binaries (kubectl among them).
	Assets string

	env *envtest.Environment
}

// AddUser adds a user to the control plane (for tests that act as one).
func (cp *ControlPlane) AddUser(user envtest.User, base *rest.Config) (*envtest.AuthenticatedUser, error) {
	return cp.env.AddUser(user, base)
}

// StartControlPlane stops whatever an earlier run left in dir, then starts
// etcd and kube-apiserver from the envtest binaries in assets, installs the
// CRDs of repo/config/crd/bases and writes dir/kubeconfig. The processes
// outlive this one (envtest starts them in a process group of their own) and
// log to dir/logs; Stop or StopLeftovers(dir) ends them.
func StartControlPlane(dir, assets, repo string) (*ControlPlane, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := StopLeftovers(dir); err != nil {
		return nil, err
	}
	if err := Clear(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, marker), []byte("state of a Privacy Operator local stack; `localstack down` removes this directory\n"), 0o600); err != nil {
		return nil, err
	}
	for _, d := range []string{"etcd", "apiserver", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	etcdLog, err := os.Create(filepath.Join(dir, "logs", "etcd.log"))
	if err != nil {
		return nil, err
	}
	defer etcdLog.Close()
	apiLog, err := os.Create(filepath.Join(dir, "logs", "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	defer apiLog.Close()

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		ControlPlane: envtest.ControlPlane{
			// Files, not pipes: the processes keep logging after this
			// process exits.
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(dir, "etcd"), Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{CertDir: filepath.Join(dir, "apiserver"), Out: apiLog, Err: apiLog},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		_ = StopLeftovers(dir)
		return nil, fmt.Errorf("start the control plane with the binaries in %s: %w (logs in %s)", assets, err, filepath.Join(dir, "logs"))
	}
	cp := &ControlPlane{Dir: dir, Config: cfg, Assets: assets, env: env, KubeconfigPath: filepath.Join(dir, "kubeconfig")}
	user, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var kubeconfig []byte
		if kubeconfig, err = user.KubeConfig(); err == nil {
			err = os.WriteFile(cp.KubeconfigPath, kubeconfig, 0o600)
		}
	}
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("write the kubeconfig: %w", err)
	}
	return cp, nil
}

// marker names a state directory as the local stack's own.
const marker = ".privacy-operator-localstack"

// Clear removes a state directory, refusing one that holds anything but a
// local stack's state (a mistyped --dir must not delete a project).
func Clear(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty and is not a local stack's state directory (no %s): refusing to clear it", dir, marker)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	return nil
}

// Stop stops the control plane and the processes started in its
// directory. A control plane that does not stop in time (kube-apiserver
// drains open watches for a while) is killed: what counts is that nothing
// is left running.
func (cp *ControlPlane) Stop() error {
	stopErr := cp.env.Stop()
	if err := StopLeftovers(cp.Dir); err != nil {
		return errors.Join(stopErr, err)
	}
	return nil
}

// Healthy reports whether a control plane whose kubeconfig is at path
// answers /readyz.
func Healthy(ctx context.Context, kubeconfigPath string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return false
	}
	cfg.Timeout = 3 * time.Second
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Assets finds the envtest binaries: KUBEBUILDER_ASSETS, else the newest
// version in the setup-envtest cache that hack/envtest-binaries.sh fills.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dataHome := os.Getenv("XDG_DATA_HOME")
	if dataHome == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dataHome = filepath.Join(home, ".local", "share")
	}
	matches, _ := filepath.Glob(filepath.Join(dataHome, "kubebuilder-envtest", "k8s", "*-"+runtime.GOOS+"-"+runtime.GOARCH, "kube-apiserver"))
	if len(matches) == 0 {
		return "", errors.New("no envtest binaries: run `make envtest` (or hack/envtest-binaries.sh) first, or set KUBEBUILDER_ASSETS")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}
