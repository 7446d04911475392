package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestVersionMustBeSemantic(t *testing.T) {
	for _, v := range []string{"", "dev", "0.3.0", "v0.3", "v0.3.0-dirty+meta", "63d732c-dirty", "v01.2.3"} {
		out := filepath.Join(t.TempDir(), "release")
		err := run(options{Version: v, Out: out, Log: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "vMAJOR.MINOR.PATCH") {
			t.Errorf("version %q: %v, want refused", v, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("version %q: %s was made", v, out)
		}
	}
	for _, v := range []string{"v0.3.0", "v1.0.0-rc.1", "v10.20.30"} {
		if !semver.MatchString(v) {
			t.Errorf("version %q refused", v)
		}
	}
}

func TestClearOutReplacesOnlyARelease(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := clearOut(dir); err == nil {
		t.Fatal("a folder holding something else was taken")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the folder's file is gone: %v", err)
	}

	release := filepath.Join(t.TempDir(), "release")
	if err := clearOut(release); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(release, "install.yaml")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := clearOut(release); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("the earlier release's file is still there")
	}
}

// TestKrewManifestFillsEveryPlatform fills the repository's krew manifest
// for all of its platforms, as make release does.
func TestKrewManifestFillsEveryPlatform(t *testing.T) {
	template, err := os.ReadFile(filepath.Join("..", "..", krewTemplate))
	if err != nil {
		t.Fatal(err)
	}
	platforms, err := krewPlatforms(template)
	if err != nil {
		t.Fatal(err)
	}
	if len(platforms) != 4 {
		t.Fatalf("the template's platforms are %q, want linux and darwin, amd64 and arm64", platforms)
	}
	sums := map[string]string{}
	for i, p := range platforms {
		sums[p] = strings.Repeat(string(rune('a'+i)), 64)
	}
	out, err := krewManifest(template, "v0.3.0", "https://example.com/{version}/{archive}", sums)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "RELEASE-") || strings.Contains(string(out), "v0.0.0") {
		t.Errorf("placeholders left:\n%s", out)
	}
	var m map[string]any
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range platformsOf(m) {
		platform := platformOf(p)
		if p["sha256"] != sums[platform] || p["uri"] != "https://example.com/v0.3.0/"+archiveName(platform) || p["bin"] != plugin {
			t.Errorf("platform %s: %v", platform, p)
		}
	}
	if _, err := krewManifest(template, "v0.3.0", "x", map[string]string{"windows/amd64": "00"}); err == nil {
		t.Error("an archive for a platform the manifest lacks was accepted")
	}
}

func TestSetImageTouchesOnlyTheImageBlock(t *testing.T) {
	values := "replicaCount: 2\nimage:\n  # -- Repository.\n  repository: privacy-operator\n  # -- Tag.\n  tag: latest\n  digest: \"\"\nother:\n  tag: keep\n"
	got, err := setImage([]byte(values), "r.example.com/po", "v0.3.0")
	if err != nil {
		t.Fatal(err)
	}
	want := "replicaCount: 2\nimage:\n  # -- Repository.\n  repository: \"r.example.com/po\"\n  # -- Tag.\n  tag: \"v0.3.0\"\n  digest: \"\"\nother:\n  tag: keep\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := setImage([]byte("image:\n  repository: x\nother: 1\n"), "r", "v"); err == nil {
		t.Error("an image block without a tag was accepted")
	}
}
