package controllers

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// reconcileReceipt makes sure a finished request has its signed receipt in
// the receipt store and status.receipt says where: it submits the receipt
// to the Notary (once status holds the finish), records the reference once
// written, and says why while the store refuses it. It reports whether
// status.receipt is set: until then the request is not deleted. It is the
// only writer of status.receipt and ReceiptRecorded.
func (r *PrivacyRequestReconciler) reconcileReceipt(ctx context.Context, s *requestScope) bool {
	pr, rc := s.pr, r.Receipts
	if rc == nil || pr.Status.Receipt != nil {
		return true
	}
	id := receipt.RequestOwnerID(pr.Name, string(pr.UID))
	ref, lastErr, written := rc.result(id)
	if written {
		pr.Status.Receipt = receiptRef(ref)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReceiptRecorded)
		now := s.now
		s.after = append(s.after, func() { rc.settle(id, ref, now) })
		return true
	}
	if lastErr != nil {
		conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionReceiptRecorded, metav1.ConditionFalse,
			privacyv1alpha1.ReasonReceiptStoreUnavailable,
			truncate("Writing the receipt failed and is retried; the request is not deleted before it is stored: "+lastErr.Error(), 1024))
	}
	// Made and submitted once the finish is stored, from the status as
	// stored (phase and summary are derived after the phases): a pass whose
	// write conflicts finishes again, and its receipt must be the one
	// status keeps. Made once: later passes (the Notary wakes the request
	// after each failed attempt) find it submitted.
	if !rc.Notary.Known(id) {
		s.after = append(s.after, func() { rc.Notary.Submit(id, r.requestReceipt(ctx, s)) })
	}
	return false
}

// requestReceipt is the receipt of a finished request: its facts, each
// source's part, and the subject as fingerprints only.
func (r *PrivacyRequestReconciler) requestReceipt(ctx context.Context, s *requestScope) *receipt.Receipt {
	pr := s.pr
	req := &receipt.Request{
		Name: pr.Name, UID: string(pr.UID), Type: string(pr.Spec.Type), Regulation: string(pr.Spec.Regulation), Child: pr.Spec.Child,
		Channel: pr.Annotations[privacyv1alpha1.AnnotationChannel], Requester: pr.Spec.Requester,
		CreatedAt: pr.CreationTimestamp.UTC(), Outcome: receipt.Outcome(pr.Status.Phase),
		Subject: receipt.Subject{FingerprintKeyID: receipt.FingerprintKeyID(r.Receipts.FingerprintKey)},
	}
	if pr.Annotations[privacyv1alpha1.AnnotationUnsubscribe] != "" && req.Channel == "privacy-center" {
		// Only on the center's requests (its channel is guarded by the
		// admission policy privacy-center).
		req.Channel = receipt.ChannelUnsubscribeLink
	}
	if agent := pr.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent]; agent != "" {
		req.Channel, req.Agent, req.AgentRequestID = receipt.ChannelDRP, agent, pr.Annotations[privacyv1alpha1.AnnotationAgentRequestID]
	}
	if pr.Status.DueAt != nil {
		req.DueAt = pr.Status.DueAt.UTC()
	}
	if r := pr.Spec.ReceivedAt; r != nil {
		at := r.UTC()
		req.ReceivedAt = &at
	}
	if pr.Status.CompletedAt != nil {
		req.FinishedAt = pr.Status.CompletedAt.UTC()
	}
	if ext := pr.Spec.Extension; ext != nil {
		req.Extension = &receipt.Extension{Days: ext.Days, Reason: ext.Reason}
	}
	if a := pr.Spec.Approval; a != nil {
		req.Approval = &receipt.Approval{Approver: a.Approver, Reason: a.Reason, ApprovedAt: a.ApprovedAt.UTC()}
	}
	// The subject fixed at the first read is the person the request was
	// sent about; a request that never read it (no matching source)
	// resolves its subject now.
	req.Subject.Fingerprints = r.fixedFingerprints(pr)
	var err error
	if len(req.Subject.Fingerprints) == 0 {
		var ids map[string]string
		ids, err = r.subjectIdentities(ctx, s)
		if err == nil {
			req.Subject.Fingerprints = r.Receipts.fingerprints(ids)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrSecretRefused):
		req.Subject.Unresolved = "the subject Secret could not be read when the receipt was made (deleted, or no longer labelled)"
	default:
		// Resolve's errors name the Secret, never its values.
		req.Subject.Unresolved = truncate(fmt.Sprintf("the subject's identities could not be read: %v", err), 512)
	}
	for _, name := range pr.Status.HeldBy {
		h := receipt.Hold{Name: name}
		lh := &privacyv1alpha1.LegalHold{}
		if err := r.Get(ctx, types.NamespacedName{Name: name}, lh); err == nil {
			h.Reason = lh.Spec.Reason
		}
		req.Holds = append(req.Holds, h)
	}
	for _, src := range pr.Status.Sources {
		req.Sources = append(req.Sources, receiptSource(src))
	}
	if exp := pr.Status.Export; exp != nil {
		req.Export = &receipt.Export{Location: exp.Location, SHA256: exp.SHA256, Bytes: exp.Bytes}
	}
	return &receipt.Receipt{Kind: receipt.KindPrivacyRequest, Request: req}
}
