package install_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// configImage renders the chart with config/manager's image, so the image
// is not a difference.
var configImage = map[string]any{"image": map[string]any{"repository": "controller", "tag": "latest"}}

// key names an object across installers.
func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s %s/%s", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
}

// normalized drops what says who installed an object rather than what it
// is: the app.kubernetes.io/* and helm.sh/* labels on the object itself
// (Helm's are release bookkeeping, kustomize's are managed-by and part-of)
// and Helm's keep annotation. Everything else, selectors, pod template
// labels and aggregation labels included, must be the same.
func normalized(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	labels := c.GetLabels()
	for k := range labels {
		if strings.HasPrefix(k, "app.kubernetes.io/") || strings.HasPrefix(k, "helm.sh/") {
			delete(labels, k)
		}
	}
	annotations := c.GetAnnotations()
	delete(annotations, "helm.sh/resource-policy")
	// Empty maps are as good as none.
	c.SetLabels(nil)
	c.SetAnnotations(nil)
	if len(labels) > 0 {
		c.SetLabels(labels)
	}
	if len(annotations) > 0 {
		c.SetAnnotations(annotations)
	}
	return c.Object
}

// compare fails the test for every object only one side has and every
// difference between the objects both have.
func compare(t *testing.T, config, chart []*unstructured.Unstructured) {
	t.Helper()
	want, got := map[string]*unstructured.Unstructured{}, map[string]*unstructured.Unstructured{}
	for _, o := range config {
		want[key(o)] = o
	}
	for _, o := range chart {
		if _, dup := got[key(o)]; dup {
			t.Errorf("the chart renders %s twice", key(o))
		}
		got[key(o)] = o
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		o, ok := got[k]
		if !ok {
			t.Errorf("config/ has %s, the chart does not", k)
			continue
		}
		if d := cmp.Diff(normalized(want[k]), normalized(o)); d != "" {
			t.Errorf("%s differs (-config/ +chart):\n%s", k, d)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("the chart has %s, config/ does not", k)
		}
	}
}

// withoutNamespace removes config/default's Namespace, which the chart
// leaves to `helm install --create-namespace` (or the platform team), after
// checking it enforces the restricted profile, as the README asks of a
// namespace made for the chart.
func withoutNamespace(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "MutatingAdmissionPolicy") {
			// Cluster-scoped kinds kustomize does not know yet: it gives
			// them the namespace, which the API server drops.
			o.SetNamespace("")
		}
		if o.GetKind() != "Namespace" {
			out = append(out, o)
			continue
		}
		if o.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("config/default's namespace %s does not enforce the restricted profile", o.GetName())
		}
	}
	return out
}

// TestChartMatchesConfig holds the chart and config/ together: a change to
// one that is missing in the other fails here.
func TestChartMatchesConfig(t *testing.T) {
	t.Run("default values and config/default", func(t *testing.T) {
		compare(t, withoutNamespace(t, kustomize(t, "default")), renderChart(t, configImage))
	})

	t.Run("optional parts and config/cert-manager, config/network-policy, config/prometheus", func(t *testing.T) {
		config := withoutNamespace(t, kustomize(t, "cert-manager"))
		config = append(config, configNetworkPolicy(t)...)
		config = append(config, kustomize(t, "prometheus")...)
		values := map[string]any{
			"tls":            map[string]any{"certManager": map[string]any{"enabled": true}},
			"networkPolicy":  map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
		}
		for k, v := range configImage {
			values[k] = v
		}
		compare(t, config, renderChart(t, values))
	})

	t.Run("namespaces.datasourceNamespaces: config/network-policy plus one peer by name", func(t *testing.T) {
		// The one difference allowed: config/ has no list of namespaces let
		// in by name (config/network-policy's comment shows the peer to add
		// by hand), so the chart's extra peer is taken out, once, and the
		// rest must be config/'s.
		names := []any{"billing", "crm"}
		chart := ofKind(renderChart(t, map[string]any{
			"networkPolicy": map[string]any{"enabled": true},
			"namespaces":    map[string]any{"datasourceNamespaces": names},
		}), "NetworkPolicy")
		namesPeer := map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": names},
		}}}
		ingress, _, _ := unstructured.NestedSlice(chart[0].Object, "spec", "ingress")
		from := ingress[0].(map[string]any)["from"].([]any)
		without := slices.DeleteFunc(slices.Clone(from), func(p any) bool { return cmp.Equal(p, namesPeer) })
		if len(without) != len(from)-1 {
			t.Fatalf("the callback rule's peers %v hold the peer %v %d times, want once", from, namesPeer, len(from)-len(without))
		}
		ingress[0].(map[string]any)["from"] = without
		if err := unstructured.SetNestedSlice(chart[0].Object, ingress, "spec", "ingress"); err != nil {
			t.Fatal(err)
		}
		compare(t, configNetworkPolicy(t), chart)
	})

	t.Run("the comparison can fail", func(t *testing.T) {
		config := ofKind(kustomize(t, "default"), "Deployment")[0]
		chart := ofKind(renderChart(t, map[string]any{"image": configImage["image"], "replicaCount": 3}), "Deployment")[0]
		if cmp.Equal(normalized(config), normalized(chart)) {
			t.Fatal("the chart with replicaCount 3 compares equal to config/default")
		}
	})
}

// configNetworkPolicy builds config/network-policy, an example folder
// without the default's namespace and name prefix, with them added as
// config/default would.
func configNetworkPolicy(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	np, err := packaging.KustomizeOverlay("namespace: "+packaging.DefaultRelease.Namespace+"\nnamePrefix: "+packaging.DefaultRelease.Name+"-\nresources:\n- %s\n",
		filepath.Join(repo, "config", "network-policy"))
	return mustDecode(t, np, err)
}

// TestRequesterStampNeedsItsAPI: the MutatingAdmissionPolicy that stamps
// spec.requester is rendered only where the cluster serves it
// (admissionregistration.k8s.io/v1, Kubernetes 1.36 and later); elsewhere
// the install's notes say what that means, and nothing else changes.
func TestRequesterStampNeedsItsAPI(t *testing.T) {
	older := packaging.DefaultRelease
	older.KubeVersion, older.APIVersions = "v1.33.0", nil
	for _, c := range []struct {
		name  string
		rel   packaging.Release
		stamp bool
	}{{"a cluster that serves it", packaging.DefaultRelease, true}, {"a cluster that does not", older, false}} {
		t.Run(c.name, func(t *testing.T) {
			out, err := packaging.RenderChart(chartDir, c.rel, nil, nil)
			objs := mustDecode(t, out, err)
			if got := len(ofKind(objs, "MutatingAdmissionPolicy")) + len(ofKind(objs, "MutatingAdmissionPolicyBinding")); (got == 2) != c.stamp {
				t.Errorf("%d MutatingAdmissionPolicy objects rendered, want the stamp: %v", got, c.stamp)
			}
			if len(ofKind(objs, "ValidatingAdmissionPolicy")) == 0 {
				t.Errorf("the validating policies are rendered on every cluster")
			}
			notes := renderNotesFor(t, c.rel, nil)
			if warned := strings.Contains(notes, "does not serve MutatingAdmissionPolicy"); warned == c.stamp {
				t.Errorf("notes warn about the missing stamp: %v, want %v:\n%s", warned, !c.stamp, notes)
			}
		})
	}
}
