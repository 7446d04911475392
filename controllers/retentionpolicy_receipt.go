package controllers

import (
	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// reconcileRunReceipts gives every finished run in the history its signed
// receipt: submitted to the Notary once the run's end is stored, its
// reference recorded in the run once written. It is the only writer of the
// runs' receipt.
func (r *RetentionPolicyReconciler) reconcileRunReceipts(s *policyScope) {
	rc := r.Receipts
	if rc == nil {
		return
	}
	rp := s.rp
	for i := range rp.Status.History {
		run := &rp.Status.History[i]
		if run.CompletedAt == nil || run.Receipt != nil {
			continue
		}
		id := receipt.RunOwnerID(rp.Name, string(rp.UID), run.ScheduledTime.Time)
		if ref, _, written := rc.result(id); written {
			run.Receipt = receiptRef(ref)
			now := s.now
			s.after = append(s.after, func() { rc.settle(id, ref, now) })
			continue
		}
		if rc.Notary.Known(id) {
			continue
		}
		doc := runReceipt(rp, run)
		s.after = append(s.after, func() { rc.Notary.Submit(id, doc) })
	}
}

// runReceipt is the receipt of a finished retention run.
func runReceipt(rp *privacyv1alpha1.RetentionPolicy, run *privacyv1alpha1.RetentionRun) *receipt.Receipt {
	outcome := receipt.OutcomeCompleted
	if run.Outcome == privacyv1alpha1.RunOutcomeFailed || run.Outcome == privacyv1alpha1.RunOutcomePartiallyFailed {
		outcome = receipt.OutcomeFailed
	}
	// What the run was started with; runs started before the run kept
	// them fall back to the policy's spec.
	cats, action := run.Categories, run.Action
	if len(cats) == 0 {
		cats, action = rp.Spec.Categories, rp.Spec.Action
	}
	doc := &receipt.RetentionRun{
		Policy:        receipt.PolicyRef{Name: rp.Name, UID: string(rp.UID)},
		ScheduledTime: run.ScheduledTime.UTC(),
		Action:        string(action),
		Outcome:       outcome,
		FinishedAt:    run.CompletedAt.UTC(),
	}
	if run.Before != nil {
		t := run.Before.UTC()
		doc.Cutoff = &t
	}
	for _, c := range cats {
		doc.Categories = append(doc.Categories, string(c))
	}
	for _, src := range run.Sources {
		doc.Sources = append(doc.Sources, receiptSource(src))
	}
	return &receipt.Receipt{Kind: receipt.KindRetentionRun, Retention: doc}
}
