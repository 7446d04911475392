package statuspatch_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/statuspatch"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

func TestPatch(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = privacyv1alpha1.AddToScheme(scheme)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pr := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "patch-test"},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:    privacyv1alpha1.RequestTypeAccess,
			Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
		},
	}
	if err := c.Create(ctx, pr); err != nil {
		t.Fatal(err)
	}
	stale := pr.DeepCopy()

	// A change is written.
	before := pr.DeepCopy()
	pr.Status.Phase = privacyv1alpha1.RequestPhasePending
	if wrote, err := statuspatch.Patch(ctx, c, before, pr); err != nil || !wrote {
		t.Fatalf("Patch of a change: wrote=%v err=%v", wrote, err)
	}
	rv := pr.ResourceVersion

	// No change: nothing is sent.
	if wrote, err := statuspatch.Patch(ctx, c, pr.DeepCopy(), pr); err != nil || wrote {
		t.Fatalf("Patch without change: wrote=%v err=%v", wrote, err)
	}
	_ = c.Get(ctx, client.ObjectKeyFromObject(pr), pr)
	if pr.ResourceVersion != rv {
		t.Errorf("a no-op Patch changed resourceVersion %s -> %s", rv, pr.ResourceVersion)
	}

	// A change computed from a stale read conflicts instead of overwriting.
	staleAfter := stale.DeepCopy()
	staleAfter.Status.Phase = privacyv1alpha1.RequestPhaseInProgress
	if _, err := statuspatch.Patch(ctx, c, stale, staleAfter); !apierrors.IsConflict(err) {
		t.Errorf("stale Patch: err = %v, want a Conflict", err)
	}

	// A stale read that computes no change passes Patch silently, but not PatchVerified.
	if _, err := statuspatch.PatchVerified(ctx, c, stale, stale.DeepCopy()); !apierrors.IsConflict(err) {
		t.Errorf("stale PatchVerified without change: err = %v, want a Conflict", err)
	}
	// A current read that computes no change passes PatchVerified without writing.
	fresh := pr.DeepCopy()
	if wrote, err := statuspatch.PatchVerified(ctx, c, fresh, fresh.DeepCopy()); err != nil || wrote {
		t.Errorf("current PatchVerified without change: wrote=%v err=%v", wrote, err)
	}
	_ = c.Get(ctx, client.ObjectKeyFromObject(pr), pr)
	if pr.ResourceVersion != rv {
		t.Errorf("a no-op PatchVerified changed resourceVersion %s -> %s", rv, pr.ResourceVersion)
	}
}
