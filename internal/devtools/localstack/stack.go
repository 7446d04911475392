package localstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Operator is the manager binary running against a control plane, with its
// listeners on loopback.
type Operator struct {
	*Process
	bin, dir, kubeconfig string
	// Addresses of its health probes, metrics and callback listener.
	HealthAddr, MetricsAddr, CallbackAddr string
	// ExportDir is where Access exports are written.
	ExportDir string
}

// StartOperator starts the manager binary bin against cp and waits until
// it is ready. Endpoints on loopback are allowed: the data sources of the
// local stack run there.
func StartOperator(ctx context.Context, cp *ControlPlane, bin string) (*Operator, error) {
	op := &Operator{bin: bin, dir: cp.Dir, kubeconfig: cp.KubeconfigPath, ExportDir: filepath.Join(cp.Dir, "exports")}
	for _, addr := range []*string{&op.HealthAddr, &op.MetricsAddr, &op.CallbackAddr} {
		var err error
		if *addr, err = FreePort(); err != nil {
			return nil, err
		}
	}
	return op, op.start(ctx)
}

// Restart starts the operator again on the same addresses, after Stop or Kill.
func (op *Operator) Restart(ctx context.Context) error { return op.start(ctx) }

func (op *Operator) start(ctx context.Context) error {
	p, err := StartProcess(op.dir, "operator", op.bin,
		"--kubeconfig", op.kubeconfig,
		"--allow-loopback-endpoints",
		"--export-dir", op.ExportDir,
		"--health-probe-bind-address", op.HealthAddr,
		"--metrics-bind-address", op.MetricsAddr, "--metrics-secure=false",
		"--callback-bind-address", op.CallbackAddr, "--callback-base-url", "http://"+op.CallbackAddr,
		// Plain HTTP on loopback: the local stack's data sources call back there.
		"--callback-insecure",
	)
	if err != nil {
		return err
	}
	op.Process = p
	return waitReady(ctx, p, "http://"+op.HealthAddr+"/readyz")
}

// SQLSource is a cmd/sql-datasource process serving a SQLite database.
type SQLSource struct {
	*Process
	Name string
	// URL is the endpoint to register, with the base path.
	URL string
	// Secret is the signing secret shared with the operator.
	Secret string
	// DBPath is the SQLite file.
	DBPath string
}

// StartSQLSource starts bin serving the SQLite file dbPath with mapping,
// on a free loopback port, and waits until it is ready. Its files go to
// dir/name.
func StartSQLSource(ctx context.Context, dir, name, bin, dbPath string, mapping []byte) (*SQLSource, error) {
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	src := &SQLSource{Name: name, Secret: protocol.NewSecret(), DBPath: dbPath}
	files := map[string][]byte{"mapping.yaml": mapping, "signing-secret": []byte(src.Secret), "hash-key": []byte(protocol.NewSecret())}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(home, f), content, 0o600); err != nil {
			return nil, err
		}
	}
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	src.URL = "http://" + addr + "/privacy"
	p, err := StartProcess(dir, name, bin,
		"--mapping", filepath.Join(home, "mapping.yaml"),
		"--dsn", "sqlite:"+dbPath,
		"--secrets-file", filepath.Join(home, "signing-secret"),
		"--hash-key-file", filepath.Join(home, "hash-key"),
		"--listen", addr, "--base-path", "/privacy",
	)
	if err != nil {
		return nil, err
	}
	src.Process = p
	return src, waitReady(ctx, p, "http://"+addr+"/readyz")
}

// Manifest is the YAML that registers the source in namespace: the
// namespace (labelled so that the operator honours its DataSources), the
// signing Secret and the DataSource.
func (s *SQLSource) Manifest(namespace string, requestTypes, identities, categories []string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels:
    privacyoperator.io/datasource: "true"
---
apiVersion: v1
kind: Secret
metadata:
  name: %[2]s-signing
  namespace: %[1]s
stringData:
  signingSecret: %[3]s
---
apiVersion: privacyoperator.io/v1alpha1
kind: DataSource
metadata:
  name: %[2]s
  namespace: %[1]s
  labels:
    app.kubernetes.io/name: %[2]s
spec:
  endpoint:
    url: %[4]s
    # The local stack's data sources serve plain HTTP on loopback.
    insecure: true
    timeout: 30s
  signingSecretRef:
    name: %[2]s-signing
    key: signingSecret
  requestTypes: [%[5]s]
  identities: [%[6]s]
  categories: [%[7]s]
  retry:
    maxAttempts: 10
    initialBackoff: 1s
    maxBackoff: 10s
`, namespace, s.Name, s.Secret, s.URL, strings.Join(requestTypes, ", "), strings.Join(identities, ", "), strings.Join(categories, ", "))
}

// waitReady polls url until it answers 200, the process exits, or 60 s pass.
func waitReady(ctx context.Context, p *Process, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited (%v) before it was ready; see %s", p.Name, p.Err(), p.LogPath)
		case <-ctx.Done():
			p.Stop()
			return fmt.Errorf("%s not ready at %s: %w; see %s", p.Name, url, ctx.Err(), p.LogPath)
		case <-tick.C:
		}
	}
}
