// Command release writes one release of Privacy Operator into a folder
// (`make release VERSION=v0.3.0`), every file a user or a registry takes:
//
//	image/oci/                        the image's OCI layout (crane push)
//	image/image-<os>-<arch>.tar       the image as docker archives (kind load)
//	privacy-operator-<version>.tgz    the packaged chart (helm push ... oci://)
//	install.yaml                      config/default with the release's image
//	crds.yaml                         the CRDs alone, to apply before an upgrade
//	kubectl-privacy_<os>_<arch>.tar.gz  the kubectl plugin, one per platform
//	privacy.yaml                      its krew manifest, with their sha256
//	SHA256SUMS                        sha256sum -c of all of the above
//
// Every binary carries the version and commit (--version). Nothing is
// pushed: README.md ("Releases") says how.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// options say what to release and where.
type options struct {
	// Repo is the repository root.
	Repo string
	// Out receives the release; it must be empty, absent, or an earlier
	// release (it holds marker), which is replaced.
	Out string
	// Cache keeps the cross-compiled binaries between runs.
	Cache string
	// Version is the release, vMAJOR.MINOR.PATCH[-PRE]; Commit its commit.
	Version, Commit string
	// Image is the image's repository; the release's image is Image:Version.
	Image string
	// ImagePlatforms are the image's platforms; none: no image.
	ImagePlatforms []string
	// KrewPlatforms are the plugin's platforms; none: every platform of the
	// krew manifest in plugins/krew.
	KrewPlatforms []string
	// DownloadURL is where the plugin's archives will be downloaded from,
	// with {version} and {archive} replaced.
	DownloadURL string
	// Log receives progress.
	Log io.Writer
}

// marker is the file that says a folder holds a release, so that a second
// run may replace it (and a mistyped -out is never emptied).
const marker = ".privacy-operator-release"

// sumsFile lists the sha256 of every file of the release.
const sumsFile = "SHA256SUMS"

// semver is what a release's version looks like: v, then semantic
// versioning (the chart's version is the same without the v).
var semver = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

func main() {
	var o options
	var imagePlatforms, krewPlatforms string
	flag.StringVar(&o.Version, "version", "", "the release, vMAJOR.MINOR.PATCH[-PRE] (VERSION)")
	flag.StringVar(&o.Commit, "commit", "", "the commit stamped into the binaries (COMMIT)")
	flag.StringVar(&o.Image, "image", "privacy-operator", "the image's repository; its tag is the version (RELEASE_IMAGE)")
	flag.StringVar(&imagePlatforms, "platforms", strings.Join(packaging.DefaultPlatforms, ","), "the image's platforms, comma-separated; empty: no image")
	flag.StringVar(&krewPlatforms, "krew-platforms", "", "the kubectl plugin's platforms, comma-separated; empty: those of plugins/krew/privacy.yaml")
	flag.StringVar(&o.DownloadURL, "download-url", "https://github.com/privacyoperator/privacy-operator/releases/download/{version}/{archive}",
		"where the plugin's archives will be, for the krew manifest")
	flag.StringVar(&o.Out, "out", filepath.Join("_output", "release"), "the release folder")
	flag.StringVar(&o.Cache, "cache", filepath.Join("_output", "build"), "where the binaries are built")
	flag.Parse()
	o.ImagePlatforms, o.KrewPlatforms, o.Log = split(imagePlatforms), split(krewPlatforms), os.Stderr

	repo, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(repo, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release: run from the repository root:", err)
		os.Exit(1)
	}
	o.Repo = repo
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("release %s in %s (%s lists every file)\n", o.Version, o.Out, filepath.Join(o.Out, sumsFile))
}

// run writes the release.
func run(o options) error {
	if !semver.MatchString(o.Version) {
		return fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH[-PRE], e.g. make release VERSION=v0.3.0", o.Version)
	}
	for _, dir := range []*string{&o.Repo, &o.Out, &o.Cache} {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return err
		}
		*dir = abs
	}
	if err := clearOut(o.Out); err != nil {
		return err
	}
	image := o.Image + ":" + o.Version
	if len(o.ImagePlatforms) > 0 {
		fmt.Fprintf(o.Log, "release: the image %s for %s\n", image, strings.Join(o.ImagePlatforms, ", "))
		if _, err := packaging.BuildImage(packaging.ImageOptions{
			Repo: o.Repo, Tag: image, Platforms: o.ImagePlatforms, BinDir: filepath.Join(o.Cache, "image"),
			OutDir: filepath.Join(o.Out, "image"), Log: o.Log, Version: o.Version, Commit: o.Commit,
		}); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.Log, "release: the chart")
	if _, err := packageChart(filepath.Join(o.Repo, "charts", "privacy-operator"), o.Out, o.Version, o.Image); err != nil {
		return err
	}
	fmt.Fprintln(o.Log, "release: install.yaml")
	installer, err := packaging.Installer(o.Repo, image)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "install.yaml"), installer, 0o644); err != nil {
		return err
	}
	if err := writeCRDs(filepath.Join(o.Repo, "charts", "privacy-operator", "files", "crds"), filepath.Join(o.Out, "crds.yaml"), o.Version); err != nil {
		return err
	}
	if err := releasePlugin(o); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "release: %s\n", sumsFile)
	return writeSums(o.Out)
}

// clearOut makes dir an empty release folder: absent or empty, or an
// earlier release, which is removed.
func clearOut(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s is not empty and holds no earlier release (%s): remove it or choose another -out", dir, marker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), nil, 0o644)
}

// writeSums writes SHA256SUMS: every file below dir but itself and the
// marker, in `sha256sum -c` form, sorted by path.
func writeSums(dir string) error {
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == sumsFile || rel == marker {
			return err
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		lines = append(lines, sum+"  "+filepath.ToSlash(rel)+"\n")
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[66:], b[66:]) })
	return os.WriteFile(filepath.Join(dir, sumsFile), []byte(strings.Join(lines, "")), 0o644)
}

// fileSHA256 is the hex sha256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// split splits a comma-separated flag; "" is none.
func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
