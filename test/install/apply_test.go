package install_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const fieldOwner = client.FieldOwner("privacy-operator-install-test")

// applyCRDs applies CRDs for real (server-side apply: a second render's
// identical CRDs change nothing) and waits until the API server serves them.
func applyCRDs(ctx context.Context, objs []*unstructured.Unstructured) error {
	crds := ofKind(objs, "CustomResourceDefinition")
	for _, crd := range crds {
		if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd.DeepCopy()), fieldOwner, client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		version, _, _ := unstructured.NestedString(versions[0].(map[string]any), "name")
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion(group + "/" + version)
		list.SetKind(kind + "List")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err := k8s.List(ctx, list, client.Limit(1))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s is not served: %w", crd.GetName(), err)
			}
		}
	}
	return nil
}

// ensureNamespace creates a namespace (for real) unless it exists.
func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// dryRunApply installs objs as `kubectl apply --server-side` would, except
// that only the CRDs and the namespaces the objects go in (the release's,
// and e.g. the privacy center's subject namespace, which an install
// expects to exist) are created for real: the rest is sent with
// dryRun=All, so the API server admits and validates each object (schemas,
// CEL, admission plugins) and stores nothing.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	cluster(t)
	if err := applyCRDs(ctx, objs); err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, "privacy-operator-system", nil)
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			ensureNamespace(t, ns, nil)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), fieldOwner, client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("%s %s/%s refused: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// restrictedNamespace enforces the restricted Pod Security profile.
const restrictedNamespace = "pod-security-restricted"

// checkRestricted creates a Pod from each Deployment's pod template, dry
// run, in a namespace that enforces the restricted profile (the PodSecurity
// admission plugin judges Pods, not Deployments). It returns the number of
// templates checked.
func checkRestricted(t *testing.T, objs []*unstructured.Unstructured) int {
	t.Helper()
	cluster(t)
	ensureNamespace(t, restrictedNamespace, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	deployments := ofKind(objs, "Deployment")
	for _, o := range deployments {
		if err := createPodDryRun(t, o, nil); err != nil {
			t.Errorf("the pod template of Deployment %s fails the restricted profile: %v", o.GetName(), err)
		}
	}
	return len(deployments)
}

// createPodDryRun creates, dry run, a Pod of the Deployment's template in
// the restricted namespace, after edit (if any) changed its spec.
func createPodDryRun(t *testing.T, deployment *unstructured.Unstructured, edit func(*corev1.PodSpec)) error {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deployment.Object, &d); err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	if edit != nil {
		edit(&spec)
	}
	// The ServiceAccount admission plugin wants the Pod's account to exist.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: spec.ServiceAccountName, Namespace: restrictedNamespace}}
	if err := k8s.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: restrictedNamespace, Labels: d.Spec.Template.Labels},
		Spec:       spec,
	}
	return k8s.Create(context.Background(), pod, client.DryRunAll)
}

func TestServerSideDryRun(t *testing.T) {
	installer, err := os.ReadFile(filepath.Join(repo, "dist", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	renders := []struct {
		name string
		objs func(t *testing.T) []*unstructured.Unstructured
	}{
		{"chart with default values", func(t *testing.T) []*unstructured.Unstructured { return renderChart(t, nil) }},
		{"chart with ci/ha-values.yaml", func(t *testing.T) []*unstructured.Unstructured { return renderChart(t, nil, "ci/ha-values.yaml") }},
		{"chart with ci/cert-manager-values.yaml", func(t *testing.T) []*unstructured.Unstructured {
			return renderChart(t, nil, "ci/cert-manager-values.yaml")
		}},
		{"chart with ci/s3-workload-identity-values.yaml", func(t *testing.T) []*unstructured.Unstructured {
			return renderChart(t, nil, "ci/s3-workload-identity-values.yaml")
		}},
		{"chart with ci/privacy-center-values.yaml", func(t *testing.T) []*unstructured.Unstructured {
			return renderChart(t, nil, "ci/privacy-center-values.yaml")
		}},
		{"dist/install.yaml", func(t *testing.T) []*unstructured.Unstructured { return mustDecode(t, installer, nil) }},
	}
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			objs := r.objs(t)
			dryRunApply(t, objs)
			n := checkRestricted(t, objs)
			if n == 0 {
				t.Fatal("no Deployment rendered")
			}
			if strings.Contains(r.name, "privacy-center") && n != 2 {
				t.Errorf("%d pod templates checked, want the manager's and the privacy center's", n)
			}
			t.Logf("%d objects (%d CRDs applied, the rest dry run); %d pod template(s) pass the restricted profile",
				len(objs), len(ofKind(objs, "CustomResourceDefinition")), n)
		})
	}

	t.Run("the restricted check can fail", func(t *testing.T) {
		// The same template without runAsNonRoot is refused, so a passing
		// check above means something.
		deployment := ofKind(renderChart(t, nil), "Deployment")[0]
		err := createPodDryRun(t, deployment, func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil })
		if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "runAsNonRoot") {
			t.Fatalf("a pod without runAsNonRoot: got %v, want Forbidden naming runAsNonRoot", err)
		}
	})
}
