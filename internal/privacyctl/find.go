package privacyctl

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// find is `privacyctl receipts find`: it fingerprints the identities given
// here and lists the request receipts that hold any of them. No identity
// is ever printed, not even in an error.
func find(args []string, io IO) int {
	c := newCommand("receipts find", "Usage: privacyctl receipts find (--identity type=value... | --identity-stdin) (--dir DIR | --url s3://bucket/prefix)\n"+
		"                               [--fingerprint-key-file FILE | kube flags]\n\n"+
		"Lists the receipts of the requests about a person, found by the fingerprints of their identities,\n"+
		"computed here: the identities never leave this process and are never printed.\n"+
		"Exit code 0: receipts found; 1: none; 2: usage or read errors.\n\n", io)
	c.store.bind(c.fs)
	var subject subjectFlags
	subject.bind(c.fs, "; repeat for keys used before a change. Default: read the Secret from the cluster")
	return c.runOnStore(args, func(ctx context.Context, s receipt.Store) int {
		identities, keys, err := subject.read(ctx, io, c.kube)
		if err != nil {
			return c.fail("%v", err)
		}
		found, err := receipt.Find(ctx, s, keys, identities)
		if err != nil {
			return c.fail("%v", err)
		}
		printMatches(io, found)
		if len(found.Matches) == 0 {
			return ExitFindings
		}
		return ExitOK
	})
}

// listFlag collects a repeated flag. Set never fails, so that no value is
// ever refused (see mistake).
type listFlag []string

func (l *listFlag) String() string     { return "" }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// subjectFlags are a person's identities, given on the command line or on
// standard input (which other users of the machine cannot see), and the
// fingerprint keys to hash them with.
type subjectFlags struct {
	identities, keyFiles listFlag
	stdin                bool
}

// bind adds the flags to fs; keyFilesNote ends the key files' help.
func (f *subjectFlags) bind(fs *flag.FlagSet, keyFilesNote string) {
	fs.Var(&f.identities, "identity", "an identity of the person, type=value (email=ada@example.com); repeat for more. "+
		"Visible to other users of this machine and kept in shell history: prefer --identity-stdin")
	fs.BoolVar(&f.stdin, "identity-stdin", false, "read identities from standard input, one type=value a line")
	fs.Var(&f.keyFiles, "fingerprint-key-file", "file holding the fingerprint key (the raw bytes of "+receipt.FingerprintKeyData+
		" in the Secret "+receipt.FingerprintKeySecret+")"+keyFilesNote)
}

// read is the identities given and the fingerprint keys, from the files
// or else from the cluster.
func (f *subjectFlags) read(ctx context.Context, io IO, kube kubeFlags) ([]receipt.Identity, [][]byte, error) {
	identities, err := parseIdentities(f.identities, f.stdin, io)
	if err != nil {
		return nil, nil, err
	}
	keys, err := fingerprintKeys(ctx, f.keyFiles, kube)
	if err != nil {
		return nil, nil, err
	}
	return identities, keys, nil
}

// parseIdentities reads type=value pairs from the flags and, if asked,
// standard input. Errors name a pair by its position only.
func parseIdentities(flagged []string, fromStdin bool, io IO) ([]receipt.Identity, error) {
	var out []receipt.Identity
	for i, pair := range flagged {
		id, err := identityPair(fmt.Sprintf("--identity number %d", i+1), pair)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if fromStdin {
		read, err := ReadIdentities(io.Stdin)
		if err != nil {
			return nil, err
		}
		out = append(out, read...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("give the person's identities with --identity type=value or --identity-stdin")
	}
	return out, nil
}

// ReadIdentities reads the lines of r as --identity-stdin does: one
// type=value a line, blank lines skipped. It returns none, without an
// error, when r holds none. Errors name a line by its number, never its
// value. kubectl privacy create reads a subject's identities with it.
func ReadIdentities(r io.Reader) ([]receipt.Identity, error) {
	var out []receipt.Identity
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		id, err := identityPair(fmt.Sprintf("standard input, line %d", line), sc.Text())
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read identities from standard input: %w", err)
	}
	return out, nil
}

// identityPair is one type=value pair; where names it in an error.
func identityPair(where, pair string) (receipt.Identity, error) {
	typ, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
	if !ok || strings.TrimSpace(typ) == "" || strings.TrimSpace(value) == "" {
		return receipt.Identity{}, fmt.Errorf("%s: want type=value, such as email=... (the value is not shown here)", where)
	}
	return receipt.Identity{Type: strings.TrimSpace(typ), Value: value}, nil
}

// minFingerprintKey is the size of the keys the operator makes.
const minFingerprintKey = 32

// fingerprintKeys reads the key files, or the Secret from the cluster.
func fingerprintKeys(ctx context.Context, files []string, kube kubeFlags) ([][]byte, error) {
	var keys [][]byte
	for i, f := range files {
		which := "--fingerprint-key-file"
		if len(files) > 1 {
			which += fmt.Sprintf(" number %d", i+1)
		}
		key, err := readFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", which, err)
		}
		if len(key) < minFingerprintKey {
			return nil, fmt.Errorf("%s: %d bytes, want the %d or more raw bytes of %s "+
				"(kubectl get secret %s -o jsonpath='{.data.hmac\\.key}' | base64 -d > FILE)", which, len(key), minFingerprintKey, receipt.FingerprintKeyData, receipt.FingerprintKeySecret)
		}
		keys = append(keys, key)
	}
	if len(keys) > 0 {
		return keys, nil
	}
	c, err := kube.client()
	if err != nil {
		return nil, fmt.Errorf("no --fingerprint-key-file, and the cluster cannot be reached: %w", err)
	}
	key, err := receipt.ReadFingerprintKey(ctx, c, kube.namespace)
	if err != nil {
		return nil, err
	}
	return [][]byte{key}, nil
}

// printMatches prints the matches as a table on stdout, notes on stderr.
func printMatches(io IO, found receipt.Found) {
	if len(found.Matches) > 0 {
		w := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "LOCATION\tSEQUENCE\tKIND\tREQUEST\tTYPE\tOUTCOME\tFINISHED")
		for _, m := range found.Matches {
			r := m.Receipt.Request
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", m.Ref.Location, m.Ref.Sequence, m.Receipt.Kind, r.Name, r.Type, r.Outcome, r.FinishedAt.Format(time.RFC3339))
		}
		_ = w.Flush()
	}
	fmt.Fprintf(io.Stderr, "%d of %d request receipts hold these identities\n", len(found.Matches), found.Requests)
	for id, n := range found.OtherKeys {
		fmt.Fprintf(io.Stderr, "note: %d request receipts were fingerprinted with key %s, not given: give its key file too to search them\n", n, id)
	}
	if len(found.Unreadable) > 0 {
		fmt.Fprintf(io.Stderr, "note: %d objects are not readable receipts; run privacyctl receipts verify\n", len(found.Unreadable))
	}
}
