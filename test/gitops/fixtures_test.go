package gitops

import (
	"os"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/hack/conditionsdoc/reference"
)

// apiValues are the condition types and reasons of api/v1alpha1 (those
// docs/conditions.md lists, and the task condition types it leaves out).
func apiValues(t *testing.T) map[string]bool {
	t.Helper()
	groups, err := reference.Groups("../../api/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]bool{
		privacyv1alpha1.TaskConditionCompleted: true,
		privacyv1alpha1.TaskConditionLate:      true,
	}
	for _, g := range groups {
		for _, e := range g.Entries {
			values[e.Value] = true
		}
	}
	return values
}

// TestObjectsAreOfTheAPI decodes every object strictly into its Go type,
// so a misspelt field fails, and checks that its conditions use the API's
// types and reasons.
func TestObjectsAreOfTheAPI(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := privacyv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	values := apiValues(t)
	for _, s := range states {
		u := load(t, s.file)
		obj, err := scheme.New(u.GroupVersionKind())
		if err != nil {
			t.Fatalf("%s: %v", s.file, err)
		}
		b, err := os.ReadFile("testdata/" + s.file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Errorf("%s: %v", s.file, err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			c := c.(map[string]any)
			for _, field := range []string{"type", "reason"} {
				if v, _ := c[field].(string); !values[v] {
					t.Errorf("%s: condition %s %q is not a constant of api/v1alpha1", s.file, field, v)
				}
			}
			if st := metav1.ConditionStatus(c["status"].(string)); st != metav1.ConditionTrue && st != metav1.ConditionFalse && st != metav1.ConditionUnknown {
				t.Errorf("%s: condition status %q", s.file, st)
			}
		}
	}
}

// TestScriptsNameTheAPIsConditions fails on a condition type or reason in
// a script that the operator does not write (a typo, or a renamed
// constant): every capitalised string in a script, and every cond.X, must
// be a constant of api/v1alpha1, an Argo CD health status or a condition
// status.
func TestScriptsNameTheAPIsConditions(t *testing.T) {
	values := apiValues(t)
	for _, v := range []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "True", "False", "Unknown"} {
		values[v] = true
	}
	word := regexp.MustCompile(`"([A-Z][A-Za-z]*)"|cond\.([A-Za-z]+)`)
	for kind, script := range loadScripts(t) {
		for _, m := range word.FindAllStringSubmatch(script, -1) {
			if v := m[1] + m[2]; !values[v] {
				t.Errorf("%s's script names %q, which api/v1alpha1 does not define", kind, v)
			}
		}
	}
}

// TestScriptsBearOddObjects runs every script on statuses the operator
// does not write (each condition alone, in each status, without reason
// or message; no generation; an empty status): each must still return a
// health status rather than fail, which Argo CD would show as Unknown.
func TestScriptsBearOddObjects(t *testing.T) {
	objects := []map[string]any{
		{"metadata": map[string]any{}},
		{"metadata": map[string]any{"generation": int64(1)}, "status": map[string]any{}},
		{"metadata": map[string]any{"generation": int64(1)}, "status": map[string]any{"observedGeneration": int64(1), "conditions": []any{}}},
	}
	types := []string{"Ready", "Reconciling", "Stalled", "Suspended", "Insecure", "Overdue", "DueSoon", "Overlapping", "Active", "Completed", "Late"}
	for _, ct := range types {
		for _, st := range []string{"True", "False", "Unknown"} {
			objects = append(objects, map[string]any{
				"metadata": map[string]any{"generation": int64(1)},
				"status": map[string]any{"observedGeneration": int64(1), "conditions": []any{
					map[string]any{"type": ct, "status": st},
				}},
			})
		}
	}
	for kind, script := range loadScripts(t) {
		for _, o := range objects {
			o["apiVersion"], o["kind"] = privacyv1alpha1.GroupVersion.String(), kind
			if _, _, err := argoHealth(script, &unstructured.Unstructured{Object: o}); err != nil {
				t.Errorf("%s on %v: %v", kind, o, err)
			}
		}
	}
}

// TestDocsShowTheTable checks docs/gitops.md: a row for every object in
// testdata, with the health Argo CD and kstatus read from it here.
func TestDocsShowTheTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/gitops.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	row := regexp.MustCompile("^\\| `[a-z]+/[a-z0-9-]+` \\|")
	for line := range strings.Lines(string(b)) {
		if !row.MatchString(line) {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}
	for _, s := range states {
		cells, ok := rows[s.file]
		if !ok {
			t.Errorf("docs/gitops.md has no row | `%s` | ...", s.file)
			continue
		}
		if len(cells) < 4 || cells[len(cells)-2] != s.argo || cells[len(cells)-1] != string(s.kstatus) {
			t.Errorf("docs/gitops.md: row %v, want Argo CD %s and kstatus %s in the last two cells", cells, s.argo, s.kstatus)
		}
		delete(rows, s.file)
	}
	for name := range rows {
		t.Errorf("docs/gitops.md shows %s, which testdata lacks", name)
	}
}
