// Command image builds the operator's OCI image without a container engine
// (`make image`): the manager and the SQL data source, cross-compiled for
// each platform, on an empty base. See hack/packaging.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

func main() {
	tag := flag.String("tag", "privacy-operator:latest", "the image's name and tag (IMG)")
	platforms := flag.String("platforms", strings.Join(packaging.DefaultPlatforms, ","), "comma-separated os/arch list")
	out := flag.String("out", "bin/image", "where the OCI layout (oci/) and the docker archives go; binaries are cached in its build/")
	flag.Parse()

	repo, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(repo, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image: run from the repository root:", err)
		os.Exit(1)
	}
	img, err := packaging.BuildImage(packaging.ImageOptions{
		Repo: repo, Tag: *tag, Platforms: strings.Split(*platforms, ","),
		BinDir: filepath.Join(*out, "build"), OutDir: *out, Log: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (OCI layout, all platforms): crane push %s <registry>/<name>:<tag>\n", img.Layout, img.Layout)
	for _, p := range strings.Split(*platforms, ",") {
		fmt.Printf("%s (%s): docker load -i %s, or kind load image-archive %s\n", img.Archives[p], p, img.Archives[p], img.Archives[p])
	}
}
