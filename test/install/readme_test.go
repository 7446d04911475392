package install_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"helm.sh/helm/v3/pkg/strvals"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// helmInstalls returns the `helm install` commands of a Markdown file (in
// any code block, without a prompt, continuation lines joined), each split
// into words as the shell would (single quotes only).
func helmInstalls(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimPrefix(strings.TrimSpace(lines[i]), "$ ")
		if !strings.HasPrefix(line, "helm install ") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		var words []string
		for j, part := range strings.Split(line, "'") {
			if j%2 == 1 { // quoted
				words[len(words)-1] += part
				continue
			}
			for k, w := range strings.Fields(part) {
				if k == 0 && j > 0 && !strings.HasPrefix(part, " ") {
					words[len(words)-1] += w
				} else {
					words = append(words, w)
				}
			}
		}
		cmds = append(cmds, words)
	}
	return cmds
}

// TestReadmeHelmCommands renders the chart as each `helm install` of the
// READMEs (and of docs/privacy-center.md) would and applies it with a
// server-side dry run. Each must either start on a cluster without
// ReadWriteMany volumes (kind's local-path: no claim, or a ReadWriteOnce
// one) or say in its NOTES that it needs one; the README shows both the
// production and the kind/laptop install.
func TestReadmeHelmCommands(t *testing.T) {
	var cmds [][]string
	for _, readme := range []string{filepath.Join(repo, "README.md"), filepath.Join(chartDir, "README.md"), filepath.Join(repo, "docs", "privacy-center.md")} {
		cmds = append(cmds, helmInstalls(t, readme)...)
	}
	laptop, s3, production := 0, 0, 0
	for _, words := range cmds {
		cmd := strings.Join(words, " ")
		t.Run(cmd, func(t *testing.T) {
			if len(words) < 4 || words[2] != packaging.DefaultRelease.Name || words[3] != "charts/privacy-operator" {
				t.Fatalf("want helm install %s charts/privacy-operator ...", packaging.DefaultRelease.Name)
			}
			values := map[string]any{}
			for i := 4; i < len(words); i++ {
				switch words[i] {
				case "--set":
					i++
					if err := strvals.ParseInto(words[i], values); err != nil {
						t.Fatal(err)
					}
				case "--namespace", "-n":
					i++
					if words[i] != packaging.DefaultRelease.Namespace {
						t.Errorf("namespace %s, want %s", words[i], packaging.DefaultRelease.Namespace)
					}
				case "--create-namespace", "--wait":
				default:
					t.Fatalf("flag %s is not understood by this test", words[i])
				}
			}
			objs := renderChart(t, values)
			startsOnKind := true
			for _, c := range ofKind(objs, "PersistentVolumeClaim") {
				modes, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "accessModes")
				startsOnKind = startsOnKind && slices.Equal(modes, []string{"ReadWriteOnce"})
			}
			warns := strings.Contains(renderNotes(t, values), "must be ReadWriteMany")
			switch {
			case startsOnKind && warns:
				t.Errorf("NOTES warn about a ReadWriteMany volume the install does not need")
			case !startsOnKind && !warns:
				t.Errorf("the install needs a ReadWriteMany volume and its NOTES do not say so")
			case !startsOnKind:
				production++
			case len(ofKind(objs, "PersistentVolumeClaim")) == 0:
				s3++
			default:
				laptop++
			}
			dryRunApply(t, objs)
			checkRestricted(t, objs)
		})
	}
	if laptop == 0 || s3 == 0 || production == 0 {
		t.Errorf("the READMEs show %d production, %d one-replica and %d object-storage installs; want each", production, laptop, s3)
	}
}
