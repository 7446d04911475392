package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// A request deleted by a person before it finished is cancelled: its jobs
// are cancelled at their sources and its tasks deleted. Whatever it already
// did at a source (a Delete a source carried out) must still be on record,
// so its deletion waits, under the cancel-jobs finalizer, until a receipt
// with outcome Cancelled is stored: each source as far as it got, the ones
// still under way Cancelled. A request that sent nothing anywhere (still
// suspended, or waiting for a source) leaves no receipt: nothing was done,
// and the API server's audit log records who deleted it.

// cancelledMessage is the account of a source whose job was under way.
const cancelledMessage = "The request was deleted before the source finished; its cancellation was requested at the source (DELETE /jobs/{id})."

// reconcileCancelledReceipt submits the Cancelled receipt of an unfinished
// request being deleted and reports whether the deletion may go on: the
// receipt is stored, or none is needed. The Notary wakes the request after
// each attempt.
func (r *PrivacyRequestReconciler) reconcileCancelledReceipt(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest) bool {
	rc := r.Receipts
	if rc == nil || pr.Status.CompletedAt != nil || !workStarted(pr) {
		return true
	}
	id := receipt.RequestOwnerID(pr.Name, string(pr.UID))
	// Forgotten only once the finalizer is released (forgetCancelledReceipt):
	// a later pass of the deletion must find it written, not submit it again.
	if _, lastErr, written := rc.result(id); written {
		return true
	} else if lastErr != nil {
		log.FromContext(ctx).Error(lastErr, "the receipt of a cancelled request is not stored yet; its deletion waits")
	}
	if !rc.Notary.Known(id) {
		rc.Notary.Submit(id, r.requestReceipt(ctx, &requestScope{pr: cancelled(pr)}))
	}
	return false
}

// workStarted reports whether any job of the request reached a source or a
// person: a delivery was attempted, a task assigned, or a source finished.
func workStarted(pr *privacyv1alpha1.PrivacyRequest) bool {
	for _, src := range pr.Status.Sources {
		if src.Attempts > 0 || src.Task != "" || jobs.Finished(src.Phase) {
			return true
		}
	}
	return false
}

// cancelled is the request as its Cancelled receipt records it: finished
// when it was deleted, its unfinished sources Cancelled.
func cancelled(pr *privacyv1alpha1.PrivacyRequest) *privacyv1alpha1.PrivacyRequest {
	c := pr.DeepCopy()
	c.Status.Phase = privacyv1alpha1.RequestPhase(receipt.OutcomeCancelled)
	c.Status.CompletedAt = pr.DeletionTimestamp
	for i := range c.Status.Sources {
		src := &c.Status.Sources[i]
		if !jobs.Finished(src.Phase) {
			src.Phase, src.Message = privacyv1alpha1.SourcePhaseCancelled, cancelledMessage
		}
	}
	return c
}

// forgetCancelledReceipt lets the Notary drop the Cancelled receipt of a
// request whose deletion is done.
func (r *PrivacyRequestReconciler) forgetCancelledReceipt(pr *privacyv1alpha1.PrivacyRequest) {
	if r.Receipts != nil {
		r.Receipts.Notary.Forget(receipt.RequestOwnerID(pr.Name, string(pr.UID)))
	}
}
