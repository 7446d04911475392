package controllers

import (
	"testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
)

func TestNeedsFinalizer(t *testing.T) {
	accepted := map[string]dispatch.Outcome{"j": {Result: dispatch.ResultAccepted}}
	final := map[string]dispatch.Outcome{"j": {Result: dispatch.ResultFinal}}
	for _, tc := range []struct {
		name     string
		typ      privacyv1alpha1.RequestType
		phase    privacyv1alpha1.SourcePhase
		outcomes map[string]dispatch.Outcome
		want     bool
	}{
		{"Access: deletion removes its export", privacyv1alpha1.RequestTypeAccess, "", nil, true},
		{"Delete, nothing sent yet", privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.SourcePhasePending, nil, false},
		{"Delete, answered at once", privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.SourcePhasePending, final, false},
		{"Delete, accepted (outcome not recorded yet)", privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.SourcePhasePending, accepted, true},
		{"Delete, a job open at a source", privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.SourcePhaseDispatched, nil, true},
	} {
		pr := requestAt(map[string]privacyv1alpha1.SourcePhase{"a": tc.phase})
		pr.Spec.Type = tc.typ
		if got := needsFinalizer(pr, tc.outcomes); got != tc.want {
			t.Errorf("%s: needsFinalizer = %v, want %v", tc.name, got, tc.want)
		}
	}

	// Done at one source in an earlier pass, not at another: its deletion
	// must leave a Cancelled receipt of what was done.
	partial := requestAt(map[string]privacyv1alpha1.SourcePhase{"a": privacyv1alpha1.SourcePhaseCompleted, "b": privacyv1alpha1.SourcePhasePending})
	partial.Spec.Type = privacyv1alpha1.RequestTypeDelete
	if !needsFinalizer(partial, nil) {
		t.Error("partly done: needsFinalizer = false, want true")
	}
	done := requestAt(map[string]privacyv1alpha1.SourcePhase{"a": privacyv1alpha1.SourcePhaseCompleted, "b": privacyv1alpha1.SourcePhaseFailed})
	done.Spec.Type = privacyv1alpha1.RequestTypeDelete
	if needsFinalizer(done, nil) {
		t.Error("every source ended: needsFinalizer = true, want false (the receipt is written by the finish)")
	}
}
