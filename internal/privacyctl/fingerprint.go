package privacyctl

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// fingerprint is `privacyctl fingerprint`: it prints the fingerprints of a
// person's identities under the operator's key, as a LegalHold's
// scope.subjects lists them and receipts carry them. The identities are
// hashed here and never printed.
func fingerprint(args []string, io IO) int {
	fs := flag.NewFlagSet("privacyctl fingerprint", flag.ContinueOnError)
	var kube kubeFlags
	kube.bind(fs)
	var flagIDs, keyFiles listFlag
	fs.Var(&flagIDs, "identity", "an identity of the person, type=value (email=ada@example.com); repeat for more. "+
		"Visible to other users of this machine and kept in shell history: prefer --identity-stdin")
	fromStdin := fs.Bool("identity-stdin", false, "read identities from standard input, one type=value a line")
	fs.Var(&keyFiles, "fingerprint-key-file", "file holding the fingerprint key (the raw bytes of "+receipt.FingerprintKeyData+
		" in the Secret "+receipt.FingerprintKeySecret+"). Default: read the Secret from the cluster with your own rights")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: privacyctl fingerprint (--identity type=value... | --identity-stdin) [--fingerprint-key-file FILE | kube flags]\n\n"+
			"Prints the fingerprint of each identity (HMAC-SHA256 under the operator's fingerprint key), as a LegalHold's\n"+
			"spec.scope.subjects lists them. The identities never leave this process and are never printed.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, io); !ok {
		return code
	}
	identities, err := parseIdentities(flagIDs, *fromStdin, io)
	if err != nil {
		return fail(io, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	keys, err := fingerprintKeys(ctx, keyFiles, kube)
	if err != nil {
		return fail(io, "%v", err)
	}
	if len(keys) != 1 {
		return fail(io, "give one --fingerprint-key-file: a hold is matched with the operator's current key")
	}
	w := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	for _, id := range identities {
		fmt.Fprintf(w, "%s\t%s\n", id.Type, receipt.Fingerprint(keys[0], id.Type, id.Value))
	}
	_ = w.Flush()
	return ExitOK
}
