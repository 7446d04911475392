package privacyctl

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// verify is `privacyctl receipts verify`: it checks every receipt's
// signature and the chain, printing each break with its position.
func verify(args []string, io IO) int {
	c := newCommand("receipts verify", "Usage: privacyctl receipts verify (--dir DIR | --url s3://bucket/prefix) [--public-keys FILE | kube flags]\n\n"+
		"Checks every receipt's signature and the chain between them; prints one line per break, with its\n"+
		"position, then a summary. Exit code 0: no break; 1: breaks, or no receipt at all; 2: usage or read errors.\n\n", io)
	c.store.bind(c.fs)
	keysFile := c.fs.String("public-keys", "", "PEM file of the receipt public keys (the entries of the ConfigMap "+receipt.PublicKeysConfigMap+
		"); default: read that ConfigMap from the cluster with --kubeconfig, --context, --namespace")
	return c.runOnStore(args, func(ctx context.Context, s receipt.Store) int {
		keys, err := publicKeys(ctx, *keysFile, c.kube)
		if err != nil {
			return c.fail("%v", err)
		}
		rep, err := receipt.Verify(ctx, s, keys)
		if err != nil {
			return c.fail("%v", err)
		}
		for _, b := range rep.Breaks {
			fmt.Fprintf(io.Stdout, "BREAK %s (sequence %d): %s\n", s.Location(b.Name), b.Sequence, b.Problem)
		}
		fmt.Fprintln(io.Stdout, summary(rep, len(keys)))
		// Nothing to verify is not a clean log: the wrong place was named,
		// or everything was removed.
		if !rep.OK() || rep.Receipts == 0 {
			return ExitFindings
		}
		return ExitOK
	})
}

// summary is the report's last line.
func summary(rep receipt.Report, keys int) string {
	verdict := "no break"
	if n := len(rep.Breaks); n == 1 {
		verdict = "1 BREAK"
	} else if n > 1 {
		verdict = fmt.Sprintf("%d BREAKS", n)
	}
	if rep.Receipts == 0 {
		return "no receipt found in the log: " + verdict
	}
	return fmt.Sprintf("%d receipts (%d sweeps), sequences %d to %d, checked with %d public keys; last receipt's sha256 %s: %s",
		rep.Receipts, rep.Sweeps, rep.First, rep.Last, keys, rep.LastSHA256, verdict)
}

// publicKeys reads the keys from the file, or from the cluster.
func publicKeys(ctx context.Context, file string, kube kubeFlags) (map[string]ed25519.PublicKey, error) {
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return nil, fmt.Errorf("--public-keys: %w", err)
		}
		keys, err := receipt.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("--public-keys: %w", err)
		}
		return keys, nil
	}
	c, err := kube.client()
	if err != nil {
		return nil, fmt.Errorf("no --public-keys, and the cluster cannot be reached: %w", err)
	}
	return receipt.ReadPublicKeys(ctx, c, kube.namespace)
}
