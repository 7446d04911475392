// Command localstack runs Privacy Operator on one machine, without a
// cluster or a container engine:
//
//	localstack up      start a local control plane (etcd + kube-apiserver,
//	                   CRDs installed) that outlives this command, and print
//	                   its KUBECONFIG; `make run` then runs the operator on it
//	localstack down    stop it and remove its state
//	localstack demo    the whole product: control plane, operator, two SQL
//	                   data sources, the privacy center and its mailbox, a
//	                   RetentionPolicy and one request of each type (one
//	                   filed at the center), shown live (see `make demo`)
//
// The Makefile builds it and passes KUBEBUILDER_ASSETS (the envtest
// binaries, built once and cached).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/privacyoperator/privacy-operator/internal/devtools/demo"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		version.Print(os.Stdout, "localstack")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: localstack up|down|demo [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("localstack "+cmd, flag.ContinueOnError)
	dir := fs.String("dir", "tmp/local", "state directory (data, logs, kubeconfig)")
	repo := fs.String("repo", ".", "repository root (for config/crd)")
	bin := fs.String("bin", "bin", "directory holding the manager, sql-datasource and privacy-center binaries (demo)")
	mailpit := fs.String("mailpit", os.Getenv("MAILPIT_BIN"), "demo: the mailpit binary, the privacy center's mailbox (default: $MAILPIT_BIN; make demo passes hack/mailpit.sh build's)")
	once := fs.Bool("once", os.Getenv("DEMO_ONCE") == "1", "demo: exit after the summary (default: $DEMO_ONCE=1)")
	timeout := fs.Duration("timeout", 5*time.Minute, "demo: how long to wait for everything to finish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch cmd {
	case "up":
		return up(ctx, abs, *repo)
	case "down":
		if err := localstack.StopLeftovers(abs); err != nil {
			return err
		}
		fmt.Printf("stopped; removing %s\n", abs)
		return localstack.Clear(abs)
	case "demo":
		assets, err := localstack.Assets()
		if err != nil {
			return err
		}
		return demo.Run(ctx, demo.Options{Dir: abs, Assets: assets, Repo: *repo, Bin: *bin, Mailpit: *mailpit, Once: *once,
			Out: os.Stdout, TTY: term.IsTerminal(int(os.Stdout.Fd())), Timeout: *timeout})
	default:
		return fmt.Errorf("unknown command %q: use up, down or demo", cmd)
	}
}

// up starts a control plane in dir unless a healthy one is already there.
func up(ctx context.Context, dir, repo string) error {
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if localstack.Healthy(ctx, kubeconfig) {
		fmt.Printf("A local control plane is already running in %s.\n", dir)
	} else {
		assets, err := localstack.Assets()
		if err != nil {
			return err
		}
		if _, err := localstack.StartControlPlane(dir, assets, repo); err != nil {
			return err
		}
		fmt.Printf("Started a local control plane in %s (CRDs installed).\n", dir)
	}
	fmt.Printf("Use it with:\n  export KUBECONFIG=%s\n  make run\nStop it with: make local-down\n", kubeconfig)
	return nil
}
