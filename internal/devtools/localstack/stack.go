package localstack

import (
	"context"
	"errors"
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
	name, bin, dir, kubeconfig string
	extra, env                 []string
	// Addresses of its health probes, metrics and callback listener.
	HealthAddr, MetricsAddr, CallbackAddr string
	// ExportDir is where Access exports are written.
	ExportDir string
	// ReceiptDir holds the signed receipts (one log for every replica).
	ReceiptDir string
}

// StartOperator starts the manager binary bin against cp, with extra flags
// after the stack's own, and waits until it is ready. Endpoints on loopback
// are allowed: the data sources of the local stack run there.
func StartOperator(ctx context.Context, cp *ControlPlane, bin string, extra ...string) (*Operator, error) {
	return StartReplica(ctx, cp, "operator", bin, extra...)
}

// StartOperatorEnv is StartOperator with env added to the manager's
// environment only (GOMEMLIMIT=200MiB as the chart sets it, say), not to
// the control plane's.
func StartOperatorEnv(ctx context.Context, cp *ControlPlane, bin string, env []string, extra ...string) (*Operator, error) {
	return startReplica(ctx, cp, "operator", bin, env, extra...)
}

// StartReplica is StartOperator for one of several operators against the
// same control plane: name tells their processes and logs apart.
func StartReplica(ctx context.Context, cp *ControlPlane, name, bin string, extra ...string) (*Operator, error) {
	return startReplica(ctx, cp, name, bin, nil, extra...)
}

func startReplica(ctx context.Context, cp *ControlPlane, name, bin string, env []string, extra ...string) (*Operator, error) {
	op := &Operator{name: name, bin: bin, dir: cp.Dir, kubeconfig: cp.KubeconfigPath, extra: extra, env: env,
		ExportDir: filepath.Join(cp.Dir, "exports"), ReceiptDir: filepath.Join(cp.Dir, "receipts")}
	if err := op.startOnFreePorts(ctx); err != nil {
		return nil, err
	}
	return op, nil
}

// startOnFreePorts starts the operator on fresh loopback ports.
func (op *Operator) startOnFreePorts(ctx context.Context) error {
	return startOnFreePorts(ctx, 3, func(addrs []string) (*Process, string, error) {
		op.HealthAddr, op.MetricsAddr, op.CallbackAddr = addrs[0], addrs[1], addrs[2]
		return op.start()
	})
}

// Restart starts the operator again on the same addresses, after Stop or
// Kill (the sources' callback URLs name the old one); should another
// process have taken one of them meanwhile, on new ones.
func (op *Operator) Restart(ctx context.Context) error {
	p, ready, err := op.start()
	if err == nil {
		err = waitReady(ctx, p, ready)
	}
	if !addressInUse(err) {
		return err
	}
	return op.startOnFreePorts(ctx)
}

// start starts the operator process; ready is its readiness URL.
func (op *Operator) start() (p *Process, ready string, err error) {
	args := []string{
		"--kubeconfig", op.kubeconfig,
		"--allow-loopback-endpoints",
		"--export-dir", op.ExportDir,
		"--receipt-dir", op.ReceiptDir,
		"--health-probe-bind-address", op.HealthAddr,
		"--metrics-bind-address", op.MetricsAddr, "--metrics-secure=false",
		"--callback-bind-address", op.CallbackAddr, "--callback-base-url", "http://" + op.CallbackAddr,
		// Plain HTTP on loopback: the local stack's data sources call back there.
		"--callback-insecure",
	}
	p, err = startProcess(op.dir, op.name, op.bin, op.env, append(args, op.extra...)...)
	if err != nil {
		return nil, "", err
	}
	op.Process = p
	return p, "http://" + op.HealthAddr + "/readyz", nil
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
	if err := startOnFreePorts(ctx, 1, func(addrs []string) (*Process, string, error) {
		src.URL = "http://" + addrs[0] + "/privacy"
		p, err := StartProcess(dir, name, bin,
			"--mapping", filepath.Join(home, "mapping.yaml"),
			"--dsn", "sqlite:"+dbPath,
			"--secrets-file", filepath.Join(home, "signing-secret"),
			"--hash-key-file", filepath.Join(home, "hash-key"),
			"--listen", addrs[0], "--base-path", "/privacy",
		)
		if err != nil {
			return nil, "", err
		}
		src.Process = p
		return p, "http://" + addrs[0] + "/readyz", nil
	}); err != nil {
		return nil, err
	}
	return src, nil
}

// startAttempts bounds the picks of fresh ports for one child.
const startAttempts = 5

// startOnFreePorts picks n free loopback ports, starts a child on them and
// waits until it is ready. A port is free when picked but can be taken by
// another process before the child binds it (a busy machine makes this
// likely): a child that exits for an address already in use is started
// again on fresh ports; any other failure is returned with its log's tail.
func startOnFreePorts(ctx context.Context, n int, start func(addrs []string) (*Process, string, error)) error {
	var err error
	for range startAttempts {
		addrs := make([]string, n)
		for i := range addrs {
			if addrs[i], err = FreePort(); err != nil {
				return err
			}
		}
		p, ready, startErr := start(addrs)
		if startErr != nil {
			return startErr
		}
		if err = waitReady(ctx, p, ready); err == nil || !addressInUse(err) {
			return err
		}
	}
	return fmt.Errorf("%w (gave up after %d picks of free ports)", err, startAttempts)
}

// addressInUse reports a child that died because a port was taken.
func addressInUse(err error) bool {
	var exit *ExitError
	return errors.As(err, &exit) && strings.Contains(exit.Tail, "address already in use")
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
			return fmt.Errorf("%s was not ready yet: %w", p.Name, p.exitError())
		case <-ctx.Done():
			p.Stop()
			return fmt.Errorf("%s not ready at %s: %w; the last lines of %s:\n%s", p.Name, url, ctx.Err(), p.LogPath, indentLines(p.Tail(tailLines)))
		case <-tick.C:
		}
	}
}
