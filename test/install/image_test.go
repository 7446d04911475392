package install_test

import (
	"archive/tar"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	cranecmd "github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

const imageTag = "registry.example.com/privacy-operator:test"

// logWriter sends a builder's progress to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestImage builds the image as `make image` does (the binaries are cached
// in bin/image/build, shared with `make image`; the rest goes to a scratch
// folder) and opens it as a registry or a container runtime would.
func TestImage(t *testing.T) {
	out := t.TempDir()
	img, err := packaging.BuildImage(packaging.ImageOptions{
		Repo: repo, Tag: imageTag, BinDir: filepath.Join(repo, "bin", "image", "build"), OutDir: out, Log: logWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}

	index, err := layout.ImageIndexFromPath(img.Layout)
	if err != nil {
		t.Fatal(err)
	}
	// The layout holds one entry, the multi-platform index, so that
	// `crane push <layout> <ref>` pushes the index without --index.
	top, err := index.IndexManifest()
	if err != nil || len(top.Manifests) != 1 || !top.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("the layout's index.json: %v %+v, want one image index", err, top)
	}
	multi, err := index.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := multi.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, desc := range m.Manifests {
		platform := desc.Platform.OS + "/" + desc.Platform.Architecture
		platforms = append(platforms, platform)
		t.Run(platform, func(t *testing.T) {
			image, err := multi.Image(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			checkConfig(t, image, desc.Platform)
			root := extract(t, image)
			checkRootFS(t, root, desc.Platform)
			if desc.Platform.Architecture == runtime.GOARCH {
				runHelp(t, root)
			}
			checkArchive(t, img.Archives[platform], image)
			logSizes(t, platform, image)
		})
	}
	if !slices.Equal(platforms, packaging.DefaultPlatforms) {
		t.Errorf("platforms %v, want %v", platforms, packaging.DefaultPlatforms)
	}

	t.Run("crane push takes the layout", func(t *testing.T) {
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer reg.Close()
		ref := strings.TrimPrefix(reg.URL, "http://") + "/privacy-operator:pushed"
		push := cranecmd.NewCmdPush(&[]crane.Option{})
		push.SetArgs([]string{img.Layout, ref})
		push.SetOut(io.Discard)
		if err := push.Execute(); err != nil {
			t.Fatal(err)
		}
		pushed, err := remote.Index(mustRef(t, ref))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := pushed.Digest(); got != top.Manifests[0].Digest {
			t.Errorf("the registry holds %s, the layout %s", got, top.Manifests[0].Digest)
		}
	})
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// checkConfig: the non-root user, the exec-form entrypoint (no shell runs
// it), the platform, and the CA bundle's variable.
func checkConfig(t *testing.T, image v1.Image, p *v1.Platform) {
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != packaging.NonRootUser || !slices.Equal(c.Entrypoint, []string{packaging.Entrypoint}) || len(c.Cmd) != 0 {
		t.Errorf("user %q, entrypoint %q, cmd %q; want %q, [%s], none", c.User, c.Entrypoint, c.Cmd, packaging.NonRootUser, packaging.Entrypoint)
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture || c.WorkingDir != "/" {
		t.Errorf("config says %s/%s (workdir %q), the index %s/%s", cf.OS, cf.Architecture, c.WorkingDir, p.OS, p.Architecture)
	}
	if !slices.Contains(c.Env, "SSL_CERT_FILE="+packaging.CABundle) {
		t.Errorf("env %q lacks SSL_CERT_FILE", c.Env)
	}
	const description = "Privacy Operator: /manager (entrypoint), /sql-datasource and /privacy-center"
	if got := c.Labels["org.opencontainers.image.description"]; got != description {
		t.Errorf("description label %q, want %q", got, description)
	}
}

// file is an entry of the extracted root filesystem.
type file struct {
	mode     int64
	uid, gid int
	dir      bool
}

// rootFS is an image's root filesystem extracted into a folder.
type rootFS struct {
	dir   string
	files map[string]file
}

// extract writes the image's flattened root filesystem to a scratch folder.
func extract(t *testing.T, image v1.Image) rootFS {
	t.Helper()
	root := rootFS{dir: t.TempDir(), files: map[string]file{}}
	rc := mutate.Extract(image)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return root
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Trim(filepath.Clean("/"+h.Name), "/")
		root.files[name] = file{mode: h.Mode, uid: h.Uid, gid: h.Gid, dir: h.Typeflag == tar.TypeDir}
		path := filepath.Join(root.dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeFile(path, tr, os.FileMode(h.Mode)&0o777)
		default:
			t.Errorf("%s: a tar entry of type %c; the image holds only files and folders", name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkRootFS: the binaries are static executables of the platform built
// as `make image` says; the user database, the CA bundle and /tmp are
// there; no shell is.
func checkRootFS(t *testing.T, root rootFS, p *v1.Platform) {
	for _, bin := range []string{"manager", "sql-datasource", "privacy-center"} {
		f, ok := root.files[bin]
		if !ok || f.mode&0o111 == 0 {
			t.Errorf("/%s missing or not executable: %+v", bin, f)
			continue
		}
		checkBinary(t, filepath.Join(root.dir, bin), p.Architecture)
	}
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := root.files[shell]; ok {
			t.Errorf("the image holds a shell, /%s", shell)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(root.dir, "etc", "passwd"))
	group, _ := os.ReadFile(filepath.Join(root.dir, "etc", "group"))
	if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") || !strings.Contains(string(group), "nonroot:x:65532:") {
		t.Errorf("/etc/passwd or /etc/group lacks nonroot 65532:\n%s%s", passwd, group)
	}
	ca, _ := os.ReadFile(filepath.Join(root.dir, packaging.CABundle))
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		t.Errorf("%s holds no certificate", packaging.CABundle)
	}
	if tmp := root.files["tmp"]; !tmp.dir || tmp.mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: %+v, want a folder with mode 1777", tmp)
	}
	if home := root.files["home/nonroot"]; !home.dir || home.uid != 65532 {
		t.Errorf("/home/nonroot: %+v, want a folder of 65532", home)
	}
}

func checkBinary(t *testing.T, path, arch string) {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		t.Errorf("%s is for %v, want %s", path, f.Machine, arch)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it names an interpreter); the image has no libc", path)
		}
	}
	// -s -w: no symbol table, no DWARF.
	for _, section := range f.Sections {
		if section.Name == ".symtab" || strings.HasPrefix(section.Name, ".debug_") {
			t.Errorf("%s is not stripped: it has %s", path, section.Name)
		}
	}
	// (-trimpath keeps -ldflags out of the build info.)
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "-tags": packaging.BuildTags, "GOARCH": arch} {
		if settings[k] != want {
			t.Errorf("%s was built with %s=%q, want %q", path, k, settings[k], want)
		}
	}
}

// runHelp runs each binary from the extracted root filesystem, with nothing
// of the build machine in its environment, and the privacy center's
// --version (the chart starts it with command: ["/privacy-center"]).
func runHelp(t *testing.T, root rootFS) {
	for bin, flag := range map[string]string{"manager": "-leader-elect", "sql-datasource": "-mapping", "privacy-center": "-keys-dir"} {
		cmd := exec.Command(filepath.Join(root.dir, bin), "--help")
		cmd.Dir, cmd.Env = root.dir, []string{}
		out, err := cmd.CombinedOutput()
		// The manager exits 0 after its usage; the SQL data source treats
		// the help request as an error and exits 1. Either way it ran.
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && bin == "sql-datasource") {
			t.Errorf("/%s --help: %v\n%s", bin, err, out)
		}
		if !strings.Contains(string(out), flag) {
			t.Errorf("/%s --help does not list %s:\n%s", bin, flag, out)
		}
		t.Logf("/%s --help ran from the image's root filesystem (%v): %d lines of usage", bin, cmd.ProcessState, strings.Count(string(out), "\n"))
	}
	cmd := exec.Command(filepath.Join(root.dir, "privacy-center"), "--version")
	cmd.Dir, cmd.Env = root.dir, []string{}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "privacy-center ") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("/privacy-center --version: %v, printed %q; want one line \"privacy-center <version>\"", err, out)
	}
	t.Logf("/privacy-center --version: %s", strings.TrimSpace(string(out)))
}

// checkArchive: the docker archive holds the same image (its config, which
// names every layer by digest), tagged. The manifest is not in a docker
// archive, so the image's digest there differs.
func checkArchive(t *testing.T, path string, want v1.Image) {
	tag, err := name.NewTag(imageTag)
	if err != nil {
		t.Fatal(err)
	}
	image, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("%s does not hold %s: %v", path, imageTag, err)
	}
	got, err := image.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := want.ConfigName(); got != w {
		t.Errorf("%s holds the image with config %s, the layout %s", path, got, w)
	}
}

// logSizes reports the image's size as pulled (compressed layers) and as
// unpacked.
func logSizes(t *testing.T, platform string, image v1.Image) {
	layers, err := image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var compressed, uncompressed int64
	for _, l := range layers {
		size, _ := l.Size()
		compressed += size
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		uncompressed += n
	}
	t.Logf("%s: %d layers, %.1f MiB compressed, %.1f MiB uncompressed", platform, len(layers), float64(compressed)/(1<<20), float64(uncompressed)/(1<<20))
}
