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
	binaries := flag.String("binaries", "", "comma-separated packages to build into the image instead of the operator's (hack/cluster's pause and example images)")
	entrypoint := flag.String("entrypoint", "", "with -binaries: the entrypoint, e.g. /pause")
	title := flag.String("title", "", "with -binaries: the image's title label")
	ver := flag.String("version", "", "the version stamped into the binaries (--version) and the image's labels (VERSION)")
	commit := flag.String("commit", "", "the commit stamped beside it (COMMIT)")
	flag.Parse()

	repo, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(repo, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image: run from the repository root:", err)
		os.Exit(1)
	}
	if *binaries != "" && (*entrypoint == "" || *title == "") {
		fmt.Fprintln(os.Stderr, "image: -binaries needs -entrypoint and -title")
		os.Exit(2)
	}
	img, err := packaging.BuildImage(packaging.ImageOptions{
		Repo: repo, Tag: *tag, Platforms: strings.Split(*platforms, ","),
		BinDir: filepath.Join(*out, "build"), OutDir: *out, Log: os.Stderr,
		Binaries: list(*binaries), Entrypoint: *entrypoint, Title: *title,
		Version: *ver, Commit: *commit,
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

// list splits a comma-separated flag; "" is none.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
