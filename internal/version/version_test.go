package version

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

func TestInfoString(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{Version: "v0.3.0", Commit: "abc1234"}, "v0.3.0 (commit abc1234)"},
		{Info{Version: "dev", Commit: "abc1234", Modified: true}, "dev (commit abc1234, modified)"},
		{Info{Version: "v0.3.0"}, "v0.3.0"},
	} {
		if got := tc.info.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.info, got, tc.want)
		}
	}
}

func TestGetUsesWhatTheBuildSet(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "v1.2.3", "0123456789abcdef"
	if got := Get(); got.Version != "v1.2.3" || got.Commit != "0123456" || got.Modified {
		t.Errorf("Get() = %+v, want v1.2.3 at commit 0123456, not modified", got)
	}
	Version = ""
	if got := Get().Version; got != "dev" {
		t.Errorf("Get().Version with Version empty = %q, want dev", got)
	}
}

func TestRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{nil, false},
		{[]string{"status", "--version"}, false},
		{[]string{"--version", "extra"}, false},
		{[]string{"version"}, false},
	} {
		if got := Requested(tc.args); got != tc.want {
			t.Errorf("Requested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestLDFlags(t *testing.T) {
	const pkg = "github.com/privacyoperator/privacy-operator/internal/version"
	if Package != pkg {
		t.Errorf("Package = %q, want %q (the Makefile's -X flags name it)", Package, pkg)
	}
	for _, tc := range []struct{ version, commit, want string }{
		{"v0.3.0", "abc1234", "-X " + pkg + ".Version=v0.3.0 -X " + pkg + ".Commit=abc1234"},
		{"v0.3.0", "", "-X " + pkg + ".Version=v0.3.0"},
		{"", "abc1234", "-X " + pkg + ".Commit=abc1234"},
		{"", "", ""},
	} {
		if got := LDFlags(tc.version, tc.commit); got != tc.want {
			t.Errorf("LDFlags(%q, %q) = %q, want %q", tc.version, tc.commit, got, tc.want)
		}
	}
}

// TestEveryBinaryPrintsItsVersion builds every command in cmd/ with the
// version and commit set through -ldflags, as the Makefile does, and runs
// each with --version: it must print "<name> <version> (commit <commit>)"
// and exit 0, without a cluster or any other flag.
func TestEveryBinaryPrintsItsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(repo, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var names, pkgs []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
			pkgs = append(pkgs, "./cmd/"+e.Name())
		}
	}
	if len(names) < 5 {
		t.Fatalf("cmd/ holds %q; want at least the five binaries", names)
	}
	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-ldflags", LDFlags("v9.8.7-test.1", "feedc0ffee"), "-o", bin + string(filepath.Separator)}, pkgs...)...)
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(filepath.Join(bin, name), "--version")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// No kubeconfig reachable: --version must not need one.
			cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(bin, "absent"))
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s --version: %v\nstdout: %s\nstderr: %s", name, err, stdout.String(), stderr.String())
			}
			want := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + ` v9\.8\.7-test\.1 \(commit feedc0f\)\n$`)
			if !want.Match(stdout.Bytes()) {
				t.Errorf("%s --version printed %q, want %q", name, stdout.String(), want)
			}
		})
	}
}
