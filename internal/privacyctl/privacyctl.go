// Package privacyctl is the privacyctl command: tools for the people who
// answer for Privacy Operator's work (a compliance officer, an auditor, a
// platform engineer), run with their own credentials, outside the cluster.
// It reads the operator's receipts; it never changes them.
package privacyctl

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// Exit codes, as scripts read them.
const (
	// ExitOK: done; verify found no break, find found receipts.
	ExitOK = 0
	// ExitFindings: verify found breaks, or find found no receipt.
	ExitFindings = 1
	// ExitError: the command line was wrong, or the store or the cluster
	// could not be read.
	ExitError = 2
)

// IO is what a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

const usage = `privacyctl: read Privacy Operator's signed receipts, and fingerprint identities for legal holds.

Usage:
  privacyctl receipts verify (--dir DIR | --url s3://bucket/prefix) [--public-keys FILE | kube flags]
  privacyctl receipts find --identity type=value... [--identity-stdin] (--dir DIR | --url ...) [--fingerprint-key-file FILE | kube flags]
  privacyctl fingerprint (--identity type=value... | --identity-stdin) [--fingerprint-key-file FILE | kube flags]

Run a command with -h for its flags. docs/receipts.md explains what a
receipt proves and how to answer "was this person's request honoured?";
docs/legal-holds.md how a fingerprint holds one person's data.

Exit codes: 0 done (verify: no break; find: receipts found), 1 verify found
breaks or find found nothing, 2 usage or read errors.
`

// Run runs privacyctl with args (without the program name) and returns the
// exit code.
func Run(args []string, io IO) int {
	if len(args) > 0 && args[0] == "fingerprint" {
		return fingerprint(args[1:], io)
	}
	if len(args) < 2 || args[0] != "receipts" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(io.Stdout, usage)
			return ExitOK
		}
		fmt.Fprint(io.Stderr, usage)
		return ExitError
	}
	var cmd func([]string, IO) int
	switch args[1] {
	case "verify":
		cmd = verify
	case "find":
		cmd = find
	default:
		if isHelp(args[1]) {
			fmt.Fprint(io.Stdout, usage)
			return ExitOK
		}
		fmt.Fprintf(io.Stderr, "privacyctl receipts: unknown command %q\n\n%s", args[1], usage)
		return ExitError
	}
	return cmd(args[2:], io)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// parse parses a command's flags: -h prints its usage (exit 0), an error
// the usage too (exit 2). ok false: return code.
func parse(fs *flag.FlagSet, args []string, io IO) (code int, ok bool) {
	// Help asked for goes to stdout, help after a mistake to stderr.
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(io.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = out.WriteTo(io.Stdout)
		return ExitOK, false
	case err != nil:
		_, _ = out.WriteTo(io.Stderr)
		return ExitError, false
	case fs.NArg() > 0:
		fmt.Fprintf(io.Stderr, "unexpected arguments: %v\n", fs.Args())
		return ExitError, false
	}
	return 0, true
}

// fail reports an error and returns ExitError.
func fail(io IO, format string, args ...any) int {
	fmt.Fprintf(io.Stderr, "privacyctl: "+format+"\n", args...)
	return ExitError
}

// command is what every receipts command has: its flags, among them the
// store's and the cluster's.
type command struct {
	fs    *flag.FlagSet
	store storeFlags
	kube  kubeFlags
}

// newCommand is a command named name whose -h prints usage, then the flags.
func newCommand(name, usage string) *command {
	c := &command{fs: flag.NewFlagSet("privacyctl receipts "+name, flag.ContinueOnError)}
	c.store.bind(c.fs)
	c.kube.bind(c.fs)
	c.fs.Usage = func() {
		fmt.Fprint(c.fs.Output(), usage)
		c.fs.PrintDefaults()
	}
	return c
}

// run parses args, opens the store and runs body until it returns or an
// interrupt cancels its context.
func (c *command) run(args []string, io IO, body func(ctx context.Context, s receipt.Store) int) int {
	if code, ok := parse(c.fs, args, io); !ok {
		return code
	}
	s, err := c.store.open()
	if err != nil {
		return fail(io, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return body(ctx, s)
}
