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

// newReportCommand is privacyctl receipts report: the metrics of the
// requests received in a period, from the receipts.
func newReportCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "report --from DATE --to DATE (--dir DIR | --url s3://bucket/prefix) [--csv]",
		Short: "Count the requests of a period from the receipts: complied with in whole, in part, not; days to respond (CCPA 7102)",
		Long: "privacyctl receipts report, with the same flags (run kubectl privacy report -h). Per request type, the requests\n" +
			"received in [--from, --to) that finished: complied with in whole, in part (legal holds), not complied with,\n" +
			"and the median and mean days from receipt to the answer. Exit codes: 0 done, 2 usage or read errors.",
		Example:            "  kubectl privacy report --from 2026-01-01 --to 2027-01-01 --url s3://audit/privacy-receipts --csv > 2026.csv",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return runPrivacyctl(o, "receipts", append([]string{"report"}, args...))
		},
	}
}
