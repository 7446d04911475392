package kubectlprivacy

import (
	"github.com/spf13/cobra"

	"github.com/privacyoperator/privacy-operator/internal/privacyctl"
)

// newReceiptsCommand is privacyctl's receipts verify and find, with the
// same flags: the arguments after "receipts" go to privacyctl as they are,
// so that its careful parsing (which never echoes a value: it may be an
// identity) applies unchanged. Its --kubeconfig, --context and --namespace
// (the operator's namespace, privacy-operator-system by default) reach
// the cluster as kubectl's do.
func newReceiptsCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "receipts (verify|find) [flags]",
		Short: "Verify the receipt log, or find a person's receipts (privacyctl receipts)",
		Long: "The commands of privacyctl receipts, with the same flags (run kubectl privacy receipts verify -h).\n" +
			"Exit codes: 0 done (verify: no break; find: receipts found), 1 verify found breaks or find found\n" +
			"nothing, 2 usage or read errors.",
		Example: "  kubectl privacy receipts verify --dir ./receipts-copy --public-keys keys.pem\n" +
			"  kubectl privacy receipts find --identity-stdin --url s3://audit/privacy-receipts < identity.txt",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return runPrivacyctl(o, "receipts", args)
		},
	}
}

// runPrivacyctl runs privacyctl's command sub with args, as they are, on
// the plugin's streams; its exit code is the plugin's.
func runPrivacyctl(o *options, sub string, args []string) error {
	code := privacyctl.Run(append([]string{sub}, args...), privacyctl.IO{
		Stdin: o.streams.In, Stdout: o.streams.Out, Stderr: o.streams.ErrOut,
	})
	if code != ExitOK {
		return &exitError{code: code}
	}
	return nil
}
