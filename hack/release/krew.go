package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

// plugin is the kubectl plugin's package and binary name.
const plugin = "kubectl-privacy"

// krewTemplate is the krew manifest the release fills in.
var krewTemplate = filepath.Join("plugins", "krew", "privacy.yaml")

// archiveName is a platform's plugin archive, e.g.
// kubectl-privacy_linux_amd64.tar.gz.
func archiveName(platform string) string {
	return plugin + "_" + strings.ReplaceAll(platform, "/", "_") + ".tar.gz"
}

// releasePlugin builds the plugin for each platform, archives it for krew
// (the binary and the repository's LICENSE, if it has one) and writes the
// krew manifest with each archive's download URL and sha256.
func releasePlugin(o options) error {
	template, err := os.ReadFile(filepath.Join(o.Repo, krewTemplate))
	if err != nil {
		return err
	}
	platforms := o.KrewPlatforms
	if len(platforms) == 0 {
		if platforms, err = krewPlatforms(template); err != nil {
			return err
		}
	}
	epoch, err := packaging.SourceDateEpoch()
	if err != nil {
		return err
	}
	sums := map[string]string{}
	for _, platform := range platforms {
		fmt.Fprintf(o.Log, "release: %s for %s\n", plugin, platform)
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			return err
		}
		dir := filepath.Join(o.Cache, "krew", p.OS+"_"+p.Architecture)
		if err := packaging.BuildBinaries(o.Repo, dir, p, []string{"./cmd/" + plugin}, version.LDFlags(o.Version, o.Commit)); err != nil {
			return err
		}
		archive := filepath.Join(o.Out, archiveName(platform))
		if err := writeArchive(archive, filepath.Join(dir, plugin), filepath.Join(o.Repo, "LICENSE"), epoch); err != nil {
			return err
		}
		if sums[platform], err = fileSHA256(archive); err != nil {
			return err
		}
	}
	manifest, err := krewManifest(template, o.Version, o.DownloadURL, sums)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, filepath.Base(krewTemplate)), manifest, 0o644)
}

// writeArchive writes a tar.gz holding the binary (executable) and, when
// the file exists, the license, with fixed times and owners so that the
// same binary gives the same sha256.
func writeArchive(path, binary, license string, epoch time.Time) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.ModTime = epoch
	tw := tar.NewWriter(zw)
	add := func(src, name string, mode int64) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	}
	if err := add(binary, filepath.Base(binary), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(license); err == nil {
		if err := add(license, "LICENSE", 0o644); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// krewPlugin is the part of a krew manifest the release reads and fills.
type krewPlugin = map[string]any

// krewPlatforms lists the os/arch of every platform of the manifest.
func krewPlatforms(template []byte) ([]string, error) {
	var m krewPlugin
	if err := yaml.Unmarshal(template, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", krewTemplate, err)
	}
	var out []string
	for _, p := range platformsOf(m) {
		out = append(out, platformOf(p))
	}
	return out, nil
}

// krewManifest fills the template for a release: spec.version, and for
// each platform with an archive its uri (downloadURL with {version} and
// {archive} replaced) and sha256; platforms without an archive are left
// out. Every archive must match a platform of the template.
func krewManifest(template []byte, version, downloadURL string, sums map[string]string) ([]byte, error) {
	var m krewPlugin
	if err := yaml.Unmarshal(template, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", krewTemplate, err)
	}
	spec, _ := m["spec"].(map[string]any)
	if spec == nil {
		return nil, fmt.Errorf("%s has no spec", krewTemplate)
	}
	spec["version"] = version
	var kept []any
	for _, p := range platformsOf(m) {
		platform := platformOf(p)
		sum, ok := sums[platform]
		if !ok {
			continue
		}
		p["uri"] = strings.NewReplacer("{version}", version, "{archive}", archiveName(platform)).Replace(downloadURL)
		p["sha256"] = sum
		kept = append(kept, p)
	}
	if len(kept) != len(sums) {
		var have []string
		for _, p := range platformsOf(m) {
			have = append(have, platformOf(p))
		}
		return nil, fmt.Errorf("archives for %d platforms, %d of them in %s (which has %s)", len(sums), len(kept), krewTemplate, strings.Join(have, ", "))
	}
	spec["platforms"] = kept
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# krew manifest of the kubectl privacy plugin %s, written by `make release`\n"+
		"# from %s; every uri and sha256 is the release's.\n", version, filepath.ToSlash(krewTemplate))
	return append([]byte(header), out...), nil
}

// platformsOf returns spec.platforms of a krew manifest.
func platformsOf(m krewPlugin) []map[string]any {
	spec, _ := m["spec"].(map[string]any)
	list, _ := spec["platforms"].([]any)
	var out []map[string]any
	for _, p := range list {
		if pm, ok := p.(map[string]any); ok {
			out = append(out, pm)
		}
	}
	return out
}

// platformOf is a krew platform's os/arch, from its selector's matchLabels.
func platformOf(p map[string]any) string {
	selector, _ := p["selector"].(map[string]any)
	labels, _ := selector["matchLabels"].(map[string]any)
	goos, _ := labels["os"].(string)
	arch, _ := labels["arch"].(string)
	return goos + "/" + arch
}
