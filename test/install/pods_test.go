package install_test

import (
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/privacyoperator/privacy-operator/hack/packaging"
)

// The manager's volumes (exports, receipts) are written by the image's user
// (65532). On a volume whose root is root:root 0755 (most block storage)
// it can only do that through fsGroup; without it the manager crash-loops
// with "mkdir .../receipts: permission denied" (found on a real cluster;
// kind's world-writable local-path volumes hide it).
func TestManagerVolumesAreWritableToItsUser(t *testing.T) {
	for name, objs := range map[string][]*unstructured.Unstructured{
		"chart":          renderChart(t, configImage),
		"config/default": kustomize(t, "default"),
	} {
		var found bool
		for _, o := range ofKind(objs, "Deployment") {
			var d appsv1.Deployment
			convert(t, o, &d)
			sc := d.Spec.Template.Spec.SecurityContext
			if sc == nil || sc.FSGroup == nil || *sc.FSGroup != 65532 {
				t.Errorf("%s: Deployment %s: pod securityContext.fsGroup is not 65532 (the image's user)", name, d.Name)
			}
			if sc != nil && (sc.FSGroupChangePolicy == nil || *sc.FSGroupChangePolicy != corev1.FSGroupChangeOnRootMismatch) {
				t.Errorf("%s: Deployment %s: fsGroupChangePolicy is not OnRootMismatch (a large volume would be walked at every start)", name, d.Name)
			}
			found = true
		}
		if !found {
			t.Errorf("%s renders no Deployment", name)
		}
	}
}

// A container of an example whose image is side-loaded (kind load, ctr
// images import) must not be pulled: the default policy for a :latest tag
// is Always, and the pod then never starts.
func TestExampleImagesAreNotPulledAlways(t *testing.T) {
	out, err := packaging.Kustomize(filepath.Join(repo, "examples", "sql-datasource"))
	objs := mustDecode(t, out, err)
	var containers int
	for _, o := range ofKind(objs, "Deployment") {
		var d appsv1.Deployment
		convert(t, o, &d)
		for _, c := range d.Spec.Template.Spec.Containers {
			containers++
			latest := !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest")
			if latest && c.ImagePullPolicy != corev1.PullIfNotPresent && c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("Deployment %s container %s: image %s with imagePullPolicy %q is pulled at every start", d.Name, c.Name, c.Image, c.ImagePullPolicy)
			}
		}
	}
	if containers == 0 {
		t.Fatal("the example has no container")
	}
}
