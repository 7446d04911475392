package install_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// rendered returns the rendered object of kind named name (in namespace,
// unless that is "") as a T.
func rendered[T any](t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) T {
	t.Helper()
	var out T
	for _, o := range ofKind(objs, kind) {
		if o.GetName() == name && (namespace == "" || o.GetNamespace() == namespace) {
			convert(t, o, &out)
			return out
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return out
}

// role returns the rendered Role name.
func role(t *testing.T, objs []*unstructured.Unstructured, name string) rbacv1.Role {
	t.Helper()
	return rendered[rbacv1.Role](t, objs, "Role", "", name)
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

// applyForReal applies the objects of kinds to the control plane (server
// side) and deletes them when the test ends, so that the policies bind no
// other test.
func applyForReal(t *testing.T, objs []*unstructured.Unstructured, kinds ...string) {
	t.Helper()
	for _, o := range objs {
		if !slices.Contains(kinds, o.GetKind()) {
			continue
		}
		if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()), fieldOwner, client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() {
			if err := k8s.Delete(context.Background(), o.DeepCopy()); client.IgnoreNotFound(err) != nil {
				t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		})
	}
}

// serviceAccountConfig reaches the control plane as a ServiceAccount, with
// a token the API server issues for it.
func serviceAccountConfig(t *testing.T, admin client.Client, namespace, name string) *rest.Config {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := admin.SubResource("token").Create(context.Background(), sa, tr); err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// eventually retries check for half a minute (policies and RBAC come into
// force on their own schedule).
func eventually(t *testing.T, check func() error) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, check)
}

// eventuallyWithin retries check until it passes or timeout has passed.
func eventuallyWithin(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
