package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

const (
	testVersion = "v9.8.7-rc.1"
	testImage   = "registry.example.com/privacy/operator"
	testRef     = testImage + ":" + testVersion
	// wantVersion is what every binary of the release prints for --version.
	wantVersion = testVersion + " (commit feedc0f)\n"
)

// TestRelease writes a release for the machine's platform into a temporary
// folder and checks it as its users would: the krew manifest against the
// archives, the plugin and the image's manager by their --version, the
// chart with Helm's loader and renderer, install.yaml's image, SHA256SUMS.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin and the image")
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	o := options{
		Repo: filepath.Join("..", ".."), Out: t.TempDir(), Cache: t.TempDir(),
		Version: testVersion, Commit: "feedc0ffee", Image: testImage,
		KrewPlatforms: []string{host}, DownloadURL: "https://downloads.example.com/{version}/{archive}", Log: io.Discard,
	}
	if runtime.GOOS == "linux" {
		o.ImagePlatforms = []string{host}
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}

	t.Run("the krew manifest names each archive with its sha256", func(t *testing.T) {
		data := readFile(t, o.Out, "privacy.yaml")
		if strings.Contains(string(data), "RELEASE-") {
			t.Errorf("the krew manifest still holds placeholders:\n%s", data)
		}
		var m struct {
			Spec struct {
				Version   string
				Platforms []struct {
					URI, Sha256, Bin string
					Selector         struct{ MatchLabels map[string]string }
				}
			}
		}
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Spec.Version != testVersion || len(m.Spec.Platforms) != 1 {
			t.Fatalf("version %q, %d platforms; want %s and 1:\n%s", m.Spec.Version, len(m.Spec.Platforms), testVersion, data)
		}
		p := m.Spec.Platforms[0]
		archive := archiveName(host)
		if p.URI != "https://downloads.example.com/"+testVersion+"/"+archive || p.Selector.MatchLabels["os"]+"/"+p.Selector.MatchLabels["arch"] != host {
			t.Errorf("platform %+v: want %s at https://downloads.example.com/%s/%s", p, host, testVersion, archive)
		}
		sum := sha256.Sum256(readFile(t, o.Out, archive))
		if p.Sha256 != hex.EncodeToString(sum[:]) {
			t.Errorf("the manifest's sha256 %s is not the archive's %x", p.Sha256, sum)
		}
		files := untar(t, filepath.Join(o.Out, archive))
		bin, ok := files[p.Bin]
		if !ok || bin.mode != 0o755 {
			t.Fatalf("the archive holds %v; want %s, executable", slices.Collect(maps.Keys(files)), p.Bin)
		}
		expectVersion(t, bin.data, plugin)
	})

	t.Run("the chart is versioned and runs the release's image", func(t *testing.T) {
		tgz := filepath.Join(o.Out, "privacy-operator-9.8.7-rc.1.tgz")
		c, err := loader.Load(tgz)
		if err != nil {
			t.Fatal(err)
		}
		if c.Metadata.Version != "9.8.7-rc.1" || c.Metadata.AppVersion != testVersion {
			t.Errorf("version %q, appVersion %q; want 9.8.7-rc.1 and %s", c.Metadata.Version, c.Metadata.AppVersion, testVersion)
		}
		for _, f := range c.Raw {
			if f.Name == "values.yaml" && !strings.Contains(string(f.Data), "# -- Tag of the image.") {
				t.Error("the packaged values.yaml lost its comments")
			}
		}
		manifest, err := packaging.RenderChart(tgz, packaging.DefaultRelease, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(manifest), "image: "+testRef+"\n") {
			t.Errorf("the rendered chart does not run %s", testRef)
		}
	})

	t.Run("install.yaml runs the release's image", func(t *testing.T) {
		if data := readFile(t, o.Out, "install.yaml"); !strings.Contains(string(data), "image: "+testRef+"\n") {
			t.Errorf("install.yaml does not run %s", testRef)
		}
	})

	t.Run("crds.yaml holds every CRD of the chart", func(t *testing.T) {
		crds, err := filepath.Glob(filepath.Join(o.Repo, "charts", "privacy-operator", "files", "crds", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		data := string(readFile(t, o.Out, "crds.yaml"))
		if n := strings.Count(data, "\nkind: CustomResourceDefinition\n"); n != len(crds) || len(crds) < 5 {
			t.Errorf("crds.yaml holds %d CRDs, the chart %d", n, len(crds))
		}
	})

	t.Run("the image carries the version", func(t *testing.T) {
		if o.ImagePlatforms == nil {
			t.Skip("the image is built on Linux only")
		}
		index, err := layout.ImageIndexFromPath(filepath.Join(o.Out, "image", "oci"))
		if err != nil {
			t.Fatal(err)
		}
		im, err := index.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if got := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != testVersion {
			t.Errorf("the layout's image is tagged %q, want %s", got, testVersion)
		}
		multi, err := index.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		images, err := partial.FindImages(multi, match.Platforms(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
		if err != nil || len(images) != 1 {
			t.Fatalf("%d images for linux/%s in the layout (%v), want 1", len(images), runtime.GOARCH, err)
		}
		cf, err := images[0].ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if l := cf.Config.Labels; l["org.opencontainers.image.version"] != testVersion || l["org.opencontainers.image.revision"] != "feedc0ffee" {
			t.Errorf("labels %v: want version %s, revision feedc0ffee", l, testVersion)
		}
		rc := mutate.Extract(images[0])
		defer rc.Close()
		files := readTar(t, rc)
		expectVersion(t, files["manager"].data, "manager")
	})

	t.Run("SHA256SUMS lists every file with its sha256", func(t *testing.T) {
		listed := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(readFile(t, o.Out, sumsFile))))
		for sc.Scan() {
			sum, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok {
				t.Fatalf("line %q is not in sha256sum form", sc.Text())
			}
			listed[name] = sum
		}
		var files []string
		err := filepath.WalkDir(o.Out, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(o.Out, path)
				if rel != sumsFile && rel != marker {
					files = append(files, filepath.ToSlash(rel))
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(listed)), slices.Sorted(slices.Values(files))) {
			t.Errorf("SHA256SUMS lists %q, the folder holds %q", slices.Sorted(maps.Keys(listed)), files)
		}
		for name, sum := range listed {
			if got := sha256.Sum256(readFile(t, o.Out, name)); hex.EncodeToString(got[:]) != sum {
				t.Errorf("%s: listed %s, is %x", name, sum, got)
			}
		}
	})
}

// expectVersion runs a binary of the release (written to a temporary
// file) with --version.
func expectVersion(t *testing.T, binary []byte, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, binary, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil || string(out) != name+" "+wantVersion {
		t.Errorf("%s --version: %q (%v), want %q", name, out, err, name+" "+wantVersion)
	}
}

type tarFile struct {
	mode int64
	data []byte
}

func untar(t *testing.T, path string) map[string]tarFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return readTar(t, zr)
}

func readTar(t *testing.T, r io.Reader) map[string]tarFile {
	t.Helper()
	files := map[string]tarFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = tarFile{mode: h.Mode, data: data}
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
