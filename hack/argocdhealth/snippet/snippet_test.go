package snippet

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	scriptsDir = "../../../config/argocd/health"
	outDir     = "../../../config/argocd"
)

// TestFilesAreCurrent fails when config/argocd/argocd-cm-health.yaml or
// argo-cd-values.yaml is not what the scripts make: run make manifests and
// commit them.
func TestFilesAreCurrent(t *testing.T) {
	stale, err := Stale(scriptsDir, outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		t.Errorf("config/argocd/%s is stale: run `make manifests` and commit it", name)
	}
}

// TestFilesCarryTheScripts parses the generated files as Argo CD and Helm
// would and checks that every kind's key holds its script byte for byte.
func TestFilesCarryTheScripts(t *testing.T) {
	scripts, err := Scripts(scriptsDir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(scriptsDir)
	if err != nil {
		t.Fatal(err)
	}
	cm := corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(files[ConfigMapPatch], &cm); err != nil {
		t.Fatalf("%s: %v", ConfigMapPatch, err)
	}
	if cm.Name != "argocd-cm" || cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
		t.Errorf("%s patches %q labelled %v, not Argo CD's argocd-cm", ConfigMapPatch, cm.Name, cm.Labels)
	}
	var values struct {
		Configs struct {
			CM map[string]string `json:"cm"`
		} `json:"configs"`
	}
	if err := yaml.UnmarshalStrict(files[HelmValues], &values); err != nil {
		t.Fatalf("%s: %v", HelmValues, err)
	}
	for name, data := range map[string]map[string]string{ConfigMapPatch: cm.Data, HelmValues: values.Configs.CM} {
		if len(data) != len(scripts) {
			t.Errorf("%s has %d keys, want one per kind (%d)", name, len(data), len(scripts))
		}
		for kind, script := range scripts {
			if got := data[Key(kind)]; got != script {
				t.Errorf("%s: %s does not hold %s's script as it is:\n%s", name, Key(kind), kind, got)
			}
		}
	}
}

// TestKinds checks the scheme lookup against the kinds this operator
// serves today (Scripts then fails for a new kind without a script).
func TestKinds(t *testing.T) {
	kinds, err := Kinds()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"AuthorizedAgent", "DataSource", "LegalHold", "PrivacyRequest", "PrivacyTask", "Restore", "RetentionPolicy"}
	if !slices.Equal(kinds, want) {
		t.Errorf("Kinds() = %v, want %v", kinds, want)
	}
}
