package install_test

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// valuesFile reads a values file of the chart (relative to it).
func valuesFile(t *testing.T, name string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// renderNotes renders NOTES.txt, what `helm install` prints, for the
// default release with values.
func renderNotes(t *testing.T, values map[string]any) string {
	t.Helper()
	return renderNotesFor(t, packaging.DefaultRelease, values)
}

// renderNotesFor renders NOTES.txt for a release on a cluster that serves
// the release's APIVersions.
func renderNotesFor(t *testing.T, rel packaging.Release, values map[string]any) string {
	t.Helper()
	chart, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, rel.APIVersions...)
	vals, err := chartutil.ToRenderValues(chart, values,
		chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(chart, vals)
	if err != nil {
		t.Fatal(err)
	}
	notes, ok := out[chart.Name()+"/templates/NOTES.txt"]
	if !ok {
		t.Fatalf("no NOTES.txt among %q", slices.Sorted(maps.Keys(out)))
	}
	return notes
}

// convert turns a rendered object into its typed form.
func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatal(err)
	}
}

// callbackPeers returns who the rendered NetworkPolicy lets reach the
// callback port.
func callbackPeers(t *testing.T, objs []*unstructured.Unstructured) []networkingv1.NetworkPolicyPeer {
	t.Helper()
	nps := ofKind(objs, "NetworkPolicy")
	if len(nps) != 1 {
		t.Fatalf("%d NetworkPolicies rendered, want 1", len(nps))
	}
	var np networkingv1.NetworkPolicy
	convert(t, nps[0], &np)
	for _, rule := range np.Spec.Ingress {
		if slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port != nil && p.Port.StrVal == "callbacks" }) {
			return rule.From
		}
	}
	t.Fatalf("NetworkPolicy %s has no rule for the callback port", np.Name)
	return nil
}

// isNamesPeer reports whether p admits exactly the namespaces names, by
// their kubernetes.io/metadata.name label.
func isNamesPeer(p networkingv1.NetworkPolicyPeer, names ...string) bool {
	if p.PodSelector != nil || p.IPBlock != nil || p.NamespaceSelector == nil ||
		len(p.NamespaceSelector.MatchLabels) != 0 || len(p.NamespaceSelector.MatchExpressions) != 1 {
		return false
	}
	e := p.NamespaceSelector.MatchExpressions[0]
	return e.Key == "kubernetes.io/metadata.name" && e.Operator == "In" && slices.Equal(e.Values, names)
}

// role returns the rendered Role name.
func role(t *testing.T, objs []*unstructured.Unstructured, name string) rbacv1.Role {
	t.Helper()
	for _, o := range ofKind(objs, "Role") {
		if o.GetName() == name {
			var r rbacv1.Role
			convert(t, o, &r)
			return r
		}
	}
	t.Fatalf("no Role %s rendered", name)
	return rbacv1.Role{}
}

// checkCARole checks that the callback CA Role reads the Secret, and reads
// and updates the ConfigMap, of the CA name only; create, which cannot be
// limited to a name, is all it grants on others.
func checkCARole(t *testing.T, r rbacv1.Role, name string) {
	t.Helper()
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{name}, Verbs: []string{"get", "update"}},
		// The receipt keys, whatever the CA is called.
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{receipt.SigningKeySecret, receipt.FingerprintKeySecret}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{receipt.PublicKeysConfigMap}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"create"}},
	}
	if !slices.EqualFunc(r.Rules, want, func(a, b rbacv1.PolicyRule) bool {
		return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
			slices.Equal(a.ResourceNames, b.ResourceNames) && slices.Equal(a.Verbs, b.Verbs) && len(a.NonResourceURLs) == 0
	}) {
		t.Errorf("Role %s rules %+v, want %+v", r.Name, r.Rules, want)
	}
}
