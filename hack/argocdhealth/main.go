// Command argocdhealth writes the Argo CD health checks of
// config/argocd/health/*.lua into config/argocd/argocd-cm-health.yaml (a
// patch of Argo CD's argocd-cm ConfigMap) and config/argocd/argo-cd-values.yaml
// (the same keys as values of the argo-cd Helm chart). `make manifests` runs
// it; a test fails when either file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/privacyoperator/privacy-operator/hack/argocdhealth/snippet"
)

func main() {
	scripts := flag.String("scripts", "config/argocd/health", "the directory of the <kind>.lua scripts")
	out := flag.String("out", "config/argocd", "the directory to write the generated files to")
	flag.Parse()
	files, err := snippet.Files(*scripts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argocdhealth:", err)
		os.Exit(1)
	}
	for name, content := range files {
		path := filepath.Join(*out, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
			continue // unchanged: tests may be reading it
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "argocdhealth:", err)
			os.Exit(1)
		}
	}
}
