// Command installer writes the single-file install, dist/install.yaml
// (`make installer IMG=...`): config/default with the manager's image set.
// See hack/packaging.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

func main() {
	image := flag.String("image", "privacy-operator:latest", "the manager's image (IMG)")
	out := flag.String("out", filepath.Join("dist", "install.yaml"), "the file to write")
	flag.Parse()

	repo, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "installer:", err)
		os.Exit(1)
	}
	data, err := packaging.Installer(repo, *image)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(*out), 0o755)
	}
	if old, rerr := os.ReadFile(*out); err == nil && (rerr != nil || !bytes.Equal(old, data)) {
		// Only when it changed: tests may be reading it meanwhile.
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installer:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: kubectl apply --server-side -f %s\n", *out, *out)
}
