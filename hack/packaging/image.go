// Package packaging builds what an installation consumes, from Go alone: the
// operator's OCI image (no container engine, no base image), the Helm
// chart's rendering and the single-file installer. `make image` and
// `make installer` run it through hack/image and hack/installer; the
// suite in test/install checks its output.
package packaging

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/privacyoperator/privacy-operator/internal/version"
)

// The image's fixed facts, which the tests check.
const (
	// NonRootUser is the image's user and group (distroless' "nonroot").
	NonRootUser = "65532:65532"
	// Entrypoint is the default command; the SQL data source and the
	// privacy center are started with command: ["/sql-datasource"] and
	// ["/privacy-center"].
	Entrypoint = "/manager"
	// CABundle is where the image keeps the build machine's CA bundle.
	CABundle = "/etc/ssl/certs/ca-certificates.crt"
	// BuildTags embeds the time zone database in the binaries (a
	// RetentionPolicy's timeZone), as there is no /usr/share/zoneinfo.
	BuildTags = "timetzdata"
)

// Binaries are the commands in the image, each at /<base name>.
var Binaries = []string{"./cmd/manager", "./cmd/sql-datasource", "./cmd/privacy-center"}

// DefaultPlatforms are the platforms `make image` builds.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// ImageOptions say what to build and where.
type ImageOptions struct {
	// Repo is the repository root (where go.mod is).
	Repo string
	// Tag names the image, e.g. registry.example.com/privacy-operator:v0.1.0.
	Tag string
	// Platforms as os/arch; default DefaultPlatforms.
	Platforms []string
	// BinDir caches the cross-compiled binaries, one folder per platform.
	BinDir string
	// OutDir receives the OCI layout (OutDir/oci) and one docker archive per
	// platform (OutDir/<ArchiveName>).
	OutDir string
	// CABundleFrom is the CA bundle copied into the image; default the
	// build machine's /etc/ssl/certs/ca-certificates.crt.
	CABundleFrom string
	// Log receives progress; nil discards it.
	Log io.Writer
	// Binaries are the commands to build into the image, each at
	// /<base name>; default Binaries. Title and Entrypoint go with them
	// (default "privacy-operator" and Entrypoint). hack/cluster builds its
	// pause image and the example sources' image this way.
	Binaries   []string
	Entrypoint string
	Title      string
	// Version and Commit are stamped into the binaries (their --version,
	// see internal/version) and the image's labels; empty leaves them out.
	Version, Commit string
}

// Image is what BuildImage wrote.
type Image struct {
	// Layout is the OCI image layout directory: one multi-platform index,
	// what `crane push <Layout> <ref>` pushes.
	Layout string
	// Archives maps each platform to its docker archive, what `docker load
	// -i` and `kind load image-archive` take.
	Archives map[string]string
	// Index is the multi-platform index written to Layout.
	Index v1.ImageIndex
}

// ArchiveName is the docker archive's file name for a platform.
func ArchiveName(platform string) string {
	return "image-" + strings.ReplaceAll(platform, "/", "-") + ".tar"
}

// BuildImage cross-compiles the binaries for each platform and assembles
// the image from an empty base: a base layer (CA bundle, /etc/passwd and
// /etc/group for the non-root user, /tmp) and a layer with the binaries.
// Timestamps are fixed (SOURCE_DATE_EPOCH, else the Unix epoch), so the
// same sources give the same digests.
func BuildImage(o ImageOptions) (*Image, error) {
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if o.CABundleFrom == "" {
		o.CABundleFrom = "/etc/ssl/certs/ca-certificates.crt"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if len(o.Binaries) == 0 {
		o.Binaries, o.Entrypoint, o.Title = Binaries, Entrypoint, "privacy-operator"
	}
	tag, err := name.NewTag(o.Tag)
	if err != nil {
		return nil, fmt.Errorf("image tag %q: %w", o.Tag, err)
	}
	epoch, err := SourceDateEpoch()
	if err != nil {
		return nil, err
	}
	base, err := baseLayer(o.CABundleFrom, epoch)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	out := &Image{Layout: filepath.Join(o.OutDir, "oci"), Archives: map[string]string{}}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, platform := range o.Platforms {
		img, p, err := platformImage(o, platform, base, epoch)
		if err != nil {
			return nil, err
		}
		archive := filepath.Join(o.OutDir, ArchiveName(platform))
		fmt.Fprintf(o.Log, "image: writing %s\n", archive)
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			return nil, fmt.Errorf("write %s: %w", archive, err)
		}
		out.Archives[platform] = archive
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	fmt.Fprintf(o.Log, "image: writing the OCI layout %s\n", out.Layout)
	if err := writeLayout(out.Layout, index, tag); err != nil {
		return nil, err
	}
	out.Index = index
	return out, nil
}

// platformImage builds one platform's binaries and image.
func platformImage(o ImageOptions, platform string, base v1.Layer, epoch time.Time) (v1.Image, *v1.Platform, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, nil, err
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	dir := filepath.Join(o.BinDir, p.OS+"_"+p.Architecture)
	fmt.Fprintf(o.Log, "image: building %s into %s\n", strings.Join(o.Binaries, " "), dir)
	if err := BuildBinaries(o.Repo, dir, p, o.Binaries, version.LDFlags(o.Version, o.Commit)); err != nil {
		return nil, nil, err
	}
	bins, err := binaryLayer(dir, o.Binaries, epoch)
	if err != nil {
		return nil, nil, err
	}
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON),
		mutate.Addendum{Layer: base, History: v1.History{CreatedBy: "hack/packaging: CA bundle, /etc/passwd, /etc/group, /tmp", Created: v1.Time{Time: epoch}}},
		mutate.Addendum{Layer: bins, History: v1.History{CreatedBy: "hack/packaging: " + strings.Join(imagePaths(o.Binaries), ", "), Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		User:       NonRootUser,
		Entrypoint: []string{o.Entrypoint},
		WorkingDir: "/",
		Env:        []string{"PATH=/", "SSL_CERT_FILE=" + CABundle},
		Labels: map[string]string{
			"org.opencontainers.image.title":       o.Title,
			"org.opencontainers.image.description": description(o),
		},
	}
	if o.Version != "" {
		cf.Config.Labels["org.opencontainers.image.version"] = o.Version
	}
	if o.Commit != "" {
		cf.Config.Labels["org.opencontainers.image.revision"] = o.Commit
	}
	img, err = mutate.ConfigFile(img, cf)
	return img, p, err
}

// BuildBinaries cross-compiles commands into dir: static (CGO_ENABLED=0),
// reproducible (-trimpath) and stripped (-s -w), with ldflags added (the
// version's -X flags). The release builds the kubectl plugin this way too.
func BuildBinaries(repo, dir string, p *v1.Platform, binaries []string, ldflags string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-trimpath", "-tags", BuildTags, "-ldflags", strings.TrimSpace("-s -w " + ldflags), "-o", dir + string(filepath.Separator)}, binaries...)
	cmd := exec.Command(goCommand(), args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s for %s/%s: %w\n%s", strings.Join(args, " "), p.OS, p.Architecture, err, out)
	}
	return nil
}

// imagePaths are the binaries' paths in the image.
func imagePaths(binaries []string) []string {
	var paths []string
	for _, pkg := range binaries {
		paths = append(paths, "/"+path.Base(pkg))
	}
	return paths
}

// description is the image's description label, e.g. "Privacy Operator:
// /manager (entrypoint), /sql-datasource and /privacy-center".
func description(o ImageOptions) string {
	var parts []string
	for _, p := range imagePaths(o.Binaries) {
		if p == o.Entrypoint {
			p += " (entrypoint)"
		}
		parts = append(parts, p)
	}
	title := o.Title
	if title == "privacy-operator" {
		title = "Privacy Operator"
	}
	if len(parts) > 1 {
		parts = append(parts[:len(parts)-2], parts[len(parts)-2]+" and "+parts[len(parts)-1])
	}
	return title + ": " + strings.Join(parts, ", ")
}

// goCommand is $GO (as the Makefile sets it), else go from PATH.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// SourceDateEpoch is the reproducible-builds timestamp: SOURCE_DATE_EPOCH
// (seconds), else the Unix epoch.
func SourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	var sec int64
	if _, err := fmt.Sscan(s, &sec); err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// writeLayout replaces dir with an OCI image layout holding index, named by
// tag (org.opencontainers.image.ref.name holds the tag, as the OCI spec
// says; io.containerd.image.name the full reference in containerd's
// normal form, docker.io/library/... for Docker Hub).
func writeLayout(dir string, index v1.ImageIndex, tag name.Tag) error {
	full := tag.Name()
	if rest, ok := strings.CutPrefix(full, name.DefaultRegistry+"/"); ok {
		full = "docker.io/" + rest
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	l, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return l.AppendIndex(index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          full,
	}))
}
