// Package privacyctl is the privacyctl command: tools for the people who
// answer for Privacy Operator's work (a compliance officer, an auditor, a
// platform engineer), run with their own credentials, outside the cluster.
// It reads the operator's receipts; it never changes them.
package privacyctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"

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
  privacyctl receipts report --from DATE --to DATE (--dir DIR | --url ...) [--csv]
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
	case "report":
		cmd = report
	default:
		if isHelp(args[1]) {
			fmt.Fprint(io.Stdout, usage)
			return ExitOK
		}
		// Not quoted: whatever was typed there may be an identity.
		fmt.Fprintf(io.Stderr, "privacyctl receipts: unknown command, want verify, find or report\n\n%s", usage)
		return ExitError
	}
	return cmd(args[2:], io)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// parse parses a command's flags: -h prints its usage (exit 0), a mistake
// says what is wrong (exit 2). ok false: return code. Nothing the command
// line holds is printed: an identity typed in the wrong place would land
// in a terminal's scrollback, a CI log or a ticket. So the flag package,
// whose messages quote values, prints nothing; a mistake names the flag
// or the argument's position instead.
func parse(fs *flag.FlagSet, args []string, streams IO) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(streams.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(streams.Stdout)
		fs.Usage()
		return ExitOK, false
	case err != nil:
		fmt.Fprintf(streams.Stderr, "%s: %s\n\n", fs.Name(), mistake(fs, args))
		fs.Usage()
		return ExitError, false
	case fs.NArg() > 0:
		hint := "every value goes with its flag, and the flags come first"
		if fs.Lookup("identity") != nil {
			hint = "give each identity with a --identity of its own, or use --identity-stdin"
		}
		fmt.Fprintf(streams.Stderr, "%s: %s after the flags (not shown: they may hold an identity); %s\n", fs.Name(), count(fs.NArg(), "unexpected argument"), hint)
		return ExitError, false
	}
	return 0, true
}

// mistake words what fs.Parse refused without quoting it: it walks args
// as the flag package does, up to the argument it stopped at. The flags'
// values are strings, lists and switches, so a value is refused only for
// a switch.
func mistake(fs *flag.FlagSet, args []string) string {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || len(arg) < 2 || arg[0] != '-' {
			break
		}
		name := strings.TrimPrefix(arg[1:], "-")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return fmt.Sprintf("argument %d is not a flag", i+1)
		}
		name, value, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Sprintf("argument %d is not a flag of this command (run with -h for its flags)", i+1)
		}
		if isSwitch(f) {
			if _, err := strconv.ParseBool(value); hasValue && err != nil {
				return fmt.Sprintf("--%s is a switch: give it alone, or as --%s=true or --%s=false", name, name, name)
			}
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return fmt.Sprintf("--%s needs a value", name)
			}
			i++
		}
	}
	return "the flags could not be read (run with -h for them)"
}

// isSwitch says whether f is a flag that takes no value (a bool).
func isSwitch(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// count is "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// command is what every command has: its flags (among them the cluster's
// and, for the receipts commands, the store's) and where it writes.
type command struct {
	fs    *flag.FlagSet
	io    IO
	store storeFlags
	kube  kubeFlags
}

// newCommand is the command privacyctl name whose -h prints usage, then
// the flags.
func newCommand(name, usage string, io IO) *command {
	c := &command{fs: flag.NewFlagSet("privacyctl "+name, flag.ContinueOnError), io: io}
	c.kube.bind(c.fs)
	c.fs.Usage = func() {
		fmt.Fprint(c.fs.Output(), usage)
		c.fs.PrintDefaults()
	}
	return c
}

// run parses args and runs body until it returns or an interrupt cancels
// its context.
func (c *command) run(args []string, body func(ctx context.Context) int) int {
	if code, ok := parse(c.fs, args, c.io); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return body(ctx)
}

// runOnStore is run for a receipts command: body gets the store the flags
// name (bound with c.store.bind before).
func (c *command) runOnStore(args []string, body func(ctx context.Context, s receipt.Store) int) int {
	return c.run(args, func(ctx context.Context) int {
		s, err := c.store.open()
		if err != nil {
			return c.fail("%v", err)
		}
		return body(ctx, s)
	})
}

// minRedacted is the shortest value fail replaces: shorter ones hold no
// identity, and replacing them would garble the message.
const minRedacted = 3

// fail reports an error and returns ExitError. privacyctl's own messages
// name flags, not their values; an error from elsewhere may quote one (a
// path in a file error, a context in a kubeconfig error), so every value
// the command line gave is replaced by its flag's name first.
func (c *command) fail(format string, args ...any) int {
	type given struct{ value, flag string }
	var values []given
	c.fs.Visit(func(f *flag.Flag) {
		if isSwitch(f) {
			return
		}
		all := []string{f.Value.String()}
		if l, ok := f.Value.(*listFlag); ok {
			all = *l
		}
		for _, v := range all {
			// The value of a type=value pair on its own too.
			_, value, _ := strings.Cut(v, "=")
			for _, v := range []string{v, value} {
				if len(strings.TrimSpace(v)) >= minRedacted {
					values = append(values, given{v, "<--" + f.Name + ">"})
				}
			}
		}
	})
	// Longest first: where two values match at one place, the longer one
	// is replaced, not broken up.
	sort.SliceStable(values, func(i, j int) bool { return len(values[i].value) > len(values[j].value) })
	pairs := make([]string, 0, 2*len(values))
	for _, g := range values {
		pairs = append(pairs, g.value, g.flag)
	}
	msg := strings.NewReplacer(pairs...).Replace(fmt.Sprintf(format, args...))
	fmt.Fprintln(c.io.Stderr, "privacyctl: "+msg)
	return ExitError
}
