package wiring

import (
	"fmt"
	"testing"
	"unsafe"

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

// TestCompactFinishedRequestWaitsForReplayRecords: a finished request
// whose replay record is not stored yet keeps its entries and sealed
// fingerprints in the cache (handing the record over again needs both).
func TestCompactFinishedRequestWaitsForReplayRecords(t *testing.T) {
	now := metav1.Now()
	pr := &privacyv1alpha1.PrivacyRequest{Status: privacyv1alpha1.PrivacyRequestStatus{
		CompletedAt: &now, Receipt: &privacyv1alpha1.ReceiptReference{Location: "receipts/1.json"},
		Subject: &privacyv1alpha1.FixedSubject{FingerprintKeyID: "k1", SealedFingerprints: "c2VhbGVk"},
		Sources: []privacyv1alpha1.SourceStatus{
			{Name: "crm", Phase: privacyv1alpha1.SourcePhaseCompleted, Replay: &privacyv1alpha1.SourceReplay{FinishedAt: metav1.NowMicro()}},
		},
	}}
	pending := pr.DeepCopy()
	compactFinishedRequest(pending, true)
	if len(pending.Status.Sources) != 1 || pending.Status.Subject.SealedFingerprints == "" {
		t.Fatalf("record not stored: %+v, want the entry and the fingerprints kept", pending.Status)
	}
	pr.Status.Sources[0].Replay.Stored = true
	compactFinishedRequest(pr, true)
	if len(pr.Status.Sources) != 0 || pr.Status.Subject.SealedFingerprints != "" {
		t.Fatalf("record stored: %+v, want compacted", pr.Status)
	}
}

// TestCompactFinishedRequestSharesAndDrops: a finished request's cached
// copy drops the sealed fingerprints and shares the strings every request
// repeats, and holds no more than the table's bound.
func TestCompactFinishedRequestSharesAndDrops(t *testing.T) {
	now := metav1.Now()
	mk := func() *privacyv1alpha1.PrivacyRequest {
		return &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{Namespace: string([]byte("privacy-operator-system"))},
			Status: privacyv1alpha1.PrivacyRequestStatus{
				CompletedAt: &now, Receipt: &privacyv1alpha1.ReceiptReference{Location: "r"},
				Phase:      privacyv1alpha1.RequestPhase(string([]byte("Completed"))),
				Conditions: []metav1.Condition{{Type: string([]byte("Ready")), Status: metav1.ConditionTrue, Reason: string([]byte("Completed"))}},
				Subject:    &privacyv1alpha1.FixedSubject{IdentityTypes: []string{string([]byte("email"))}, FingerprintKeyID: "k1", SealedFingerprints: "c2VhbGVk"},
			},
		}
	}
	a, b := mk(), mk()
	compactFinishedRequest(a, true)
	compactFinishedRequest(b, true)
	if a.Status.Subject.SealedFingerprints != "" || len(a.Status.Subject.IdentityTypes) != 1 {
		t.Fatalf("subject %+v: want the sealed fingerprints gone and the identity types kept", a.Status.Subject)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(a.Namespace, b.Namespace) || !same(a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason) ||
		!same(string(a.Status.Phase), string(b.Status.Phase)) || !same(a.Status.Subject.IdentityTypes[0], b.Status.Subject.IdentityTypes[0]) {
		t.Fatal("two finished requests keep their own copies of the strings they share")
	}
	running := mk()
	running.Status.CompletedAt = nil
	compactFinishedRequest(running, true)
	if running.Status.Subject.SealedFingerprints == "" {
		t.Fatal("an unfinished request lost its sealed fingerprints (holds are matched with them)")
	}
	for i := range 2 * maxShared {
		shared.of(fmt.Sprint("unusual-", i))
	}
	if n := len(shared.m); n > maxShared {
		t.Fatalf("the table holds %d strings, bound %d", n, maxShared)
	}
}
