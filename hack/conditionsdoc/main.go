// Command conditionsdoc writes docs/conditions.md, the reference of every
// condition type and reason in the API, from the constants of
// api/v1alpha1 and their comments (`make manifests` runs it; a test fails
// when the page is stale), so that the page cannot drift from the code.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/privacyoperator/privacy-operator/hack/conditionsdoc/reference"
)

func main() {
	api := flag.String("api", "api/v1alpha1", "the API package's directory")
	out := flag.String("out", "docs/conditions.md", "the page to write")
	flag.Parse()
	page, err := reference.Page(*api)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conditionsdoc:", err)
		os.Exit(1)
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, page) {
		return // unchanged: tests may be reading it
	}
	if err := os.WriteFile(*out, page, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "conditionsdoc:", err)
		os.Exit(1)
	}
}
