package wiring

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// TestCompactFinishedRequestKeepsHeldEntries: once a finished request's
// receipt is recorded its cached copy drops the per-source entries, all
// but the Held ones, from which the PrivacyTask controller tells a clerk
// which hold made an open task moot (without them it said "the request
// finished", and the clerk never learnt of the hold).
func TestCompactFinishedRequestKeepsHeldEntries(t *testing.T) {
	now := metav1.Now()
	pr := &privacyv1alpha1.PrivacyRequest{Status: privacyv1alpha1.PrivacyRequestStatus{
		CompletedAt: &now,
		Sources: []privacyv1alpha1.SourceStatus{
			{Name: "crm", Phase: privacyv1alpha1.SourcePhaseCompleted},
			{Name: "archive", Phase: privacyv1alpha1.SourcePhaseHeld, Hold: "matter-7", JobID: "pr-1"},
			{Name: "shop", Phase: privacyv1alpha1.SourcePhaseNotFound},
		},
	}}
	unrecorded := pr.DeepCopy()
	compactFinishedRequest(unrecorded, true)
	if len(unrecorded.Status.Sources) != 3 {
		t.Fatalf("before the receipt: %d entries, want all 3 (the receipt is made from them)", len(unrecorded.Status.Sources))
	}
	pr.Status.Receipt = &privacyv1alpha1.ReceiptReference{Location: "receipts/1.json"}
	compactFinishedRequest(pr, true)
	if len(pr.Status.Sources) != 1 || pr.Status.Sources[0].Hold != "matter-7" || cap(pr.Status.Sources) != 1 {
		t.Fatalf("after the receipt: %+v, want the Held entry alone", pr.Status.Sources)
	}
	done := pr.DeepCopy()
	done.Status.Sources = done.Status.Sources[:0]
	compactFinishedRequest(done, true)
	if done.Status.Sources != nil {
		t.Fatal("no Held entry: want no entries at all")
	}
}
