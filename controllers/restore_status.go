package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// setRestoreConditions sets Ready to ready with reason and message, and
// Reconciling or Stalled beside it: Stalled when stalled (a person must
// act), Reconciling while work is under way, neither once Ready is True.
func setRestoreConditions(rs *privacyv1alpha1.Restore, ready metav1.ConditionStatus, reason, msg string, stalled bool) {
	g := rs.Generation
	conditions.Set(&rs.Status.Conditions, g, privacyv1alpha1.ConditionReady, ready, reason, msg)
	switch {
	case stalled:
		conditions.Set(&rs.Status.Conditions, g, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
		conditions.Remove(&rs.Status.Conditions, privacyv1alpha1.ConditionReconciling)
	case ready == metav1.ConditionTrue:
		conditions.Remove(&rs.Status.Conditions, privacyv1alpha1.ConditionStalled)
		conditions.Remove(&rs.Status.Conditions, privacyv1alpha1.ConditionReconciling)
	default:
		conditions.Set(&rs.Status.Conditions, g, privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
		conditions.Remove(&rs.Status.Conditions, privacyv1alpha1.ConditionStalled)
	}
}

// recordProgress copies the runner's progress into status.
func recordProgress(s *restoreScope, p restoreProgress) {
	rs := s.rs
	st := &rs.Status
	st.Counts, st.Cursor, st.Failures, st.HeldBy, st.Purges = p.counts, p.cursor, p.failures, p.heldBy, p.purges
	if len(st.Failures) == 0 {
		st.Failures = nil
	}
	if len(st.HeldBy) == 0 {
		st.HeldBy = nil
	}
	if len(st.Purges) == 0 {
		st.Purges = nil
	}
	if p.phase == privacyv1alpha1.RestorePhasePurging || p.phase == privacyv1alpha1.RestorePhaseReplaying {
		st.Phase = p.phase
	}
	if p.done {
		return
	}
	c := p.counts
	msg := fmt.Sprintf("Sent %d of %d jobs again (%d completed, %d failed), %d held.", c.Sent, c.ToReplay, c.Completed, c.Failed, c.Held)
	reason := privacyv1alpha1.ReasonReplaying
	if st.Phase == privacyv1alpha1.RestorePhasePurging {
		reason = privacyv1alpha1.ReasonPurgingAfterRestore
		msg += " Running the source's retention purges once."
	}
	if p.waiting != "" {
		msg += " " + p.waiting
	}
	if p.queued != "" {
		msg = fmt.Sprintf("Waiting: Restore %s of the same DataSource runs first (one at a time keeps the original order).", p.queued)
	}
	setRestoreConditions(rs, metav1.ConditionFalse, reason, msg, false)
}

// finish ends the Restore: Completed when every replayed job and purge
// was done (or held), Failed otherwise.
func (r *RestoreReconciler) finish(s *restoreScope, p restoreProgress) {
	rs := s.rs
	completed := metav1.NewTime(s.now)
	rs.Status.CompletedAt = &completed
	c := rs.Status.Counts
	var failedPurges []string
	for _, pu := range rs.Status.Purges {
		if pu.Outcome == string(receipt.OutcomeFailed) {
			failedPurges = append(failedPurges, pu.Policy)
		}
	}
	switch {
	case p.gone:
		rs.Status.Phase = privacyv1alpha1.RestorePhaseFailed
		msg := fmt.Sprintf("DataSource %s was deleted while the Restore ran (sent %d of %d): the rest was not sent.", rs.Spec.DataSource, c.Sent, c.ToReplay)
		setRestoreConditions(rs, metav1.ConditionFalse, privacyv1alpha1.ReasonDataSourceNotFound, msg, true)
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonDataSourceNotFound, "%s", msg)
	case p.erased:
		rs.Status.Phase = privacyv1alpha1.RestorePhaseFailed
		msg := fmt.Sprintf("Replay records since the backup were erased while the Restore ran (sent %d of %d): the rest cannot be sent again.", c.Sent, c.ToReplay)
		setRestoreConditions(rs, metav1.ConditionFalse, privacyv1alpha1.ReasonRecordsErased, msg, true)
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonRecordsErased, "%s", msg)
	case c.Failed > 0 || len(failedPurges) > 0:
		rs.Status.Phase = privacyv1alpha1.RestorePhaseFailed
		msg := fmt.Sprintf("%d of %d jobs failed at the source (status.failures)", c.Failed, c.ToReplay)
		if len(failedPurges) > 0 {
			msg += "; the purge of " + strings.Join(failedPurges, ", ") + " failed"
		}
		msg += ". Fix the source and create another Restore with the same backupTakenAt: it sends every job again, which a source does without harm (a Delete of deleted data finds nothing)."
		setRestoreConditions(rs, metav1.ConditionFalse, privacyv1alpha1.ReasonReplayFailed, msg, true)
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonReplayFailed, "%s", msg)
	default:
		rs.Status.Phase = privacyv1alpha1.RestorePhaseCompleted
		msg := fmt.Sprintf("Sent %d jobs again, all done; %d held by a LegalHold; %d retention purges run.", c.Sent, c.Held, len(rs.Status.Purges))
		setRestoreConditions(rs, metav1.ConditionTrue, privacyv1alpha1.ReasonRestored, msg, false)
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonRestored, "%s", msg)
	}
}

// reconcileReceipt keeps the finished Restore's signed receipt: submitted
// once its end is stored, its reference recorded once written. Without a
// Notary (no receipt store) there is none. The run is dropped once the
// reference is recorded.
func (r *RestoreReconciler) reconcileReceipt(s *restoreScope, p restoreProgress) {
	rs, rc := s.rs, r.Receipts
	key := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}
	if rc == nil || rs.Status.Receipt != nil {
		s.after = append(s.after, func() { r.Runner.stop(key) })
		return
	}
	id := receipt.RestoreOwnerID(rs.Namespace, rs.Name, string(rs.UID))
	if ref, _, written := rc.result(id); written {
		rs.Status.Receipt = receiptRef(ref)
		now := s.now
		s.after = append(s.after, func() { rc.settle(id, ref, now); r.Runner.stop(key) })
		return
	}
	// The Notary wakes the Restore once it wrote the receipt; the requeue
	// is a fallback.
	s.requeue = restoreReceiptWait
	if rc.Notary.Known(id) || !s.endStored {
		// The receipt records the end as stored: it is submitted on the
		// pass after the one that stored it.
		return
	}
	doc := restoreReceipt(rs, p)
	s.after = append(s.after, func() { rc.Notary.Submit(id, doc) })
}

// restoreReceipt is the receipt of a finished Restore.
func restoreReceipt(rs *privacyv1alpha1.Restore, p restoreProgress) *receipt.Receipt {
	st := rs.Status
	outcome := receipt.OutcomeCompleted
	if st.Phase == privacyv1alpha1.RestorePhaseFailed {
		outcome = receipt.OutcomeFailed
	}
	doc := &receipt.Restore{
		Name: rs.Name, Namespace: rs.Namespace, UID: string(rs.UID), DataSource: rs.Spec.DataSource,
		BackupTakenAt: rs.Spec.BackupTakenAt.UTC(), FinishedAt: st.CompletedAt.UTC(), Outcome: outcome,
		Counts: receipt.RestoreCounts{ToReplay: st.Counts.ToReplay, Sent: st.Counts.Sent, Completed: st.Counts.Completed,
			Failed: st.Counts.Failed, Held: st.Counts.Held},
		Replayed: p.replayed, Holds: st.HeldBy,
	}
	if st.StartedAt != nil {
		doc.StartedAt = st.StartedAt.UTC()
	}
	for _, f := range st.Failures {
		doc.Failures = append(doc.Failures, receipt.ReplayFailure{JobID: f.JobID, OriginalJobID: f.OriginalJobID, Message: f.Message})
	}
	for _, pu := range st.Purges {
		doc.Purges = append(doc.Purges, receipt.RestorePurge{Policy: pu.Policy, Outcome: pu.Outcome, Records: pu.Records, Hold: pu.Hold, Message: pu.Message})
	}
	return &receipt.Receipt{Kind: receipt.KindRestore, Restore: doc}
}

// restoreReceiptWait bounds how long a finished Restore waits for a pass
// to see its receipt written before looking again.
const restoreReceiptWait = 5 * time.Second
