package kubectlprivacy

import (
	"github.com/spf13/cobra"
)

// newFingerprintCommand is privacyctl fingerprint, with the same flags, as
// newReceiptsCommand is privacyctl receipts: the fingerprints a LegalHold
// names a person by, made with the operator's fingerprint key.
func newFingerprintCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "fingerprint (--identity type=value... | --identity-stdin) [flags]",
		Short: "Print the fingerprints of a person's identities, for a LegalHold (privacyctl fingerprint)",
		Long: "privacyctl fingerprint, with the same flags (run kubectl privacy fingerprint -h). Prefer --identity-stdin:\n" +
			"an identity on the command line lands in your shell's history. Exit codes: 0 done, 2 usage or read errors.",
		Example:            "  kubectl privacy fingerprint --identity-stdin < identity.txt",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return runPrivacyctl(o, "fingerprint", args)
		},
	}
}
