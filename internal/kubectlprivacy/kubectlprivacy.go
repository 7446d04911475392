// Package kubectlprivacy is the kubectl privacy plugin: a PrivacyRequest's
// state at a glance (status), a new request whose identities stay out of
// the object (create), a reviewer's approval in their own name (approve),
// an Access export fetched and checked (export), manual sources'
// PrivacyTasks listed and completed in the caller's name (tasks, complete),
// and the receipts commands of privacyctl. It runs with the caller's
// kubeconfig and rights, as kubectl does, and prints a subject's
// identities only in the view of one task, for the person doing it.
package kubectlprivacy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/privacyctl"
)

// Exit codes, as privacyctl's: scripts read them the same way.
const (
	// ExitOK: done.
	ExitOK = privacyctl.ExitOK
	// ExitFindings: receipts verify found breaks, or find found nothing.
	ExitFindings = privacyctl.ExitFindings
	// ExitError: the command line was wrong, or the cluster or a store
	// could not be read, or the API server refused a change.
	ExitError = privacyctl.ExitError
)

// nowFlag is the hidden flag that fixes the clock, for golden tests: every
// relative time ("due in 3 days") is computed from it.
const nowFlag = "now"

// exitError carries a command's exit code past cobra.
type exitError struct {
	code int
	err  error // nil: nothing to print (the command printed its own output)
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

// options are what every command shares: the kubeconfig flags as kubectl
// reads them, the streams, and the clock.
type options struct {
	config  *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	now     string
	noColor bool
}

// clock is the time relative times are computed from: --now, else the
// wall clock.
func (o *options) clock() (time.Time, error) {
	if o.now == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, o.now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: want an RFC 3339 time: %w", nowFlag, err)
	}
	return t, nil
}

// color says whether to colour the output: only on a terminal, never with
// --no-color or NO_COLOR (https://no-color.org).
func (o *options) color() bool {
	if o.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := o.streams.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// client is an uncached client of the cluster, as the caller.
func (o *options) client() (client.Client, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := privacyv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil { // create's subject Secrets
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// NewCommand is the kubectl privacy command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{config: genericclioptions.NewConfigFlags(true), streams: streams}
	o.config.Timeout = ptr("30s")
	root := &cobra.Command{
		Use:   "kubectl-privacy",
		Short: "Create, inspect, approve and export Privacy Operator's PrivacyRequests; do manual sources' tasks; verify its receipts",
		Long: "kubectl privacy works with Privacy Operator's PrivacyRequests and PrivacyTasks as the caller, with the caller's own rights.\n" +
			"It never prints a subject's identities, except in the one view of a task (kubectl privacy tasks TASK) that a\n" +
			"person doing it needs, which only holders of the privacy-task-worker role can read.\n\n" +
			"Exit codes: 0 done, 1 a finding (receipts verify found breaks, receipts find found nothing), 2 usage or errors.",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl privacy"},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetIn(streams.In)
	o.config.AddFlags(root.PersistentFlags())
	root.PersistentFlags().BoolVar(&o.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal)")
	root.PersistentFlags().StringVar(&o.now, nowFlag, "", "the current time, RFC 3339 (tests)")
	_ = root.PersistentFlags().MarkHidden(nowFlag)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newStatusCommand(o), newCreateCommand(o), newApproveCommand(o), newExtendCommand(o), newExportCommand(o), newReceiptsCommand(o), newReportCommand(o), newFingerprintCommand(o), newRestoreCommand(o),
		newTasksCommand(o), newCompleteCommand(o))
	return root
}

func ptr[T any](v T) *T { return &v }

// usageError is an error of the command line (exit 2, with a hint).
func usageError(err error) error {
	return &exitError{code: ExitError, err: fmt.Errorf("%w (run with --help for usage)", err)}
}

// exactArgs is cobra.ExactArgs, worded for a person and exiting 2.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError(fmt.Errorf("want %s, got %d arguments", what, len(args)))
		}
		return nil
	}
}

// Run runs the plugin with args (without the program name) and returns
// the exit code. An interrupt cancels the command's context.
func Run(args []string, streams genericiooptions.IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(streams.ErrOut, "error: "+oneLine(ee.err.Error()))
		}
		return ee.code
	}
	fmt.Fprintln(streams.ErrOut, "error: "+oneLine(err.Error()))
	return ExitError
}

// oneLine makes an error one line that cannot move the terminal: an API
// server's message (an admission policy's, say) may hold line breaks or
// names with control characters.
func oneLine(s string) string {
	return printable(strings.Join(strings.Fields(s), " "))
}
