// Command privacyctl reads Privacy Operator's signed receipts: it verifies
// the log (privacyctl receipts verify) and finds the receipts of a person's
// requests (privacyctl receipts find). See docs/receipts.md.
package main

import (
	"os"

	"github.com/privacyoperator/privacy-operator/internal/privacyctl"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		version.Print(os.Stdout, "privacyctl")
		return
	}
	os.Exit(privacyctl.Run(os.Args[1:], privacyctl.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
