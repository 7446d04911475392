package privacyctl

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// fingerprint is `privacyctl fingerprint`: it prints the fingerprints of a
// person's identities under the operator's key, as a LegalHold's
// scope.subjects lists them and receipts carry them. The identities are
// hashed here and never printed.
func fingerprint(args []string, io IO) int {
	c := newCommand("fingerprint", "Usage: privacyctl fingerprint (--identity type=value... | --identity-stdin) [--fingerprint-key-file FILE | kube flags]\n\n"+
		"Prints the fingerprint of each identity (HMAC-SHA256 under the operator's fingerprint key), as a LegalHold's\n"+
		"spec.scope.subjects lists them. The identities never leave this process and are never printed.\n\n", io)
	var subject subjectFlags
	subject.bind(c.fs, ". Default: read the Secret from the cluster with your own rights")
	return c.run(args, func(ctx context.Context) int {
		identities, keys, err := subject.read(ctx, io, c.kube)
		if err != nil {
			return c.fail("%v", err)
		}
		if len(keys) != 1 {
			return c.fail("give one --fingerprint-key-file: a hold is matched with the operator's current key")
		}
		w := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
		for _, id := range identities {
			fmt.Fprintf(w, "%s\t%s\n", id.Type, receipt.Fingerprint(keys[0], id.Type, id.Value))
		}
		_ = w.Flush()
		return ExitOK
	})
}
