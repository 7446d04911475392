// Command kubectl-privacy is the kubectl privacy plugin: a PrivacyRequest's
// status as a tree, approvals in the reviewer's own name, Access exports
// fetched and checked, manual sources' PrivacyTasks listed, shown to the
// person doing them and completed in their own name, and the receipts
// commands of privacyctl. Install it with go install ./cmd/kubectl-privacy
// (or krew); see docs/kubectl-privacy.md.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/privacyoperator/privacy-operator/internal/kubectlprivacy"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		version.Print(os.Stdout, "kubectl-privacy")
		return
	}
	os.Exit(kubectlprivacy.Run(os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
