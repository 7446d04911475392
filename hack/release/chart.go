package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// packageChart does what `helm package --version --app-version` does, with
// the Helm library: the chart in dir, versioned (the chart's version is
// the release without its v, appVersion the release) and with its image
// set to image:version in values.yaml (comments kept), saved as
// <out>/<name>-<version>.tgz. It returns that path.
func packageChart(dir, out, version, image string) (string, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("load the chart %s: %w", dir, err)
	}
	c.Metadata.Version = strings.TrimPrefix(version, "v")
	c.Metadata.AppVersion = version
	for _, f := range c.Raw {
		if f.Name != chartutil.ValuesfileName {
			continue
		}
		if f.Data, err = setImage(f.Data, image, version); err != nil {
			return "", fmt.Errorf("%s/%s: %w", dir, f.Name, err)
		}
		values, err := chartutil.ReadValues(f.Data)
		if err != nil {
			return "", err
		}
		c.Values = values
	}
	img, _ := c.Values["image"].(map[string]any)
	if img == nil || img["repository"] != image || img["tag"] != version {
		return "", fmt.Errorf("the packaged chart's image is %v, want repository %s, tag %s", img, image, version)
	}
	path, err := chartutil.Save(c, out)
	if err != nil {
		return "", fmt.Errorf("package the chart: %w", err)
	}
	return path, nil
}

// topLevelKey starts a line that opens a top-level key of values.yaml.
var topLevelKey = regexp.MustCompile(`(?m)^[A-Za-z]`)

// setImage rewrites image.repository and image.tag in values.yaml's text,
// each exactly once and only in the image block, so that its comments (the
// values' documentation) stay.
func setImage(values []byte, repository, tag string) ([]byte, error) {
	text := string(values)
	start := strings.Index(text, "\nimage:\n")
	if start < 0 {
		return nil, fmt.Errorf("no top-level image: block")
	}
	start += len("\nimage:\n")
	end := len(text)
	if loc := topLevelKey.FindStringIndex(text[start:]); loc != nil {
		end = start + loc[0]
	}
	block := text[start:end]
	for key, value := range map[string]string{"repository": repository, "tag": tag} {
		line := regexp.MustCompile(`(?m)^  ` + key + `: .*$`)
		if n := len(line.FindAllString(block, -1)); n != 1 {
			return nil, fmt.Errorf("image.%s is on %d lines of the image block, want 1", key, n)
		}
		block = line.ReplaceAllLiteralString(block, "  "+key+": "+strconv.Quote(value))
	}
	return []byte(text[:start] + block + text[end:]), nil
}

// writeCRDs writes the chart's CRDs (files/crds, copies of
// config/crd/bases) as one YAML stream, what docs/upgrading.md applies
// before the chart.
func writeCRDs(dir, out, version string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no CRDs in %s", dir)
	}
	stream := "# The CustomResourceDefinitions of Privacy Operator " + version + ":\n" +
		"# kubectl apply --server-side -f crds.yaml (docs/upgrading.md).\n"
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		stream += "---\n" + strings.TrimPrefix(string(data), "---\n")
	}
	return os.WriteFile(out, []byte(stream), 0o644)
}
