package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// reconcileDeliveries records each handing-over of the Access export that
// the privacy center marked on the request (annotation deliveries), in
// order: a Delivery receipt first, then its entry in status.deliveries and
// an Event. The receipts follow the request's own. It is the only writer
// of status.deliveries, and reports whether every marked delivery is
// recorded: until then the request is not deleted.
func (r *PrivacyRequestReconciler) reconcileDeliveries(s *requestScope) bool {
	pr, rc := s.pr, r.Receipts
	if pr.Annotations[privacyv1alpha1.AnnotationChannel] != channelPrivacyCenter {
		// Only the privacy center hands exports over, and only on the
		// requests filed there (its admission policy guards the mark).
		return true
	}
	marks, err := privacyv1alpha1.ParseDeliveries(pr.Annotations[privacyv1alpha1.AnnotationDeliveries])
	if err != nil {
		// Only the privacy center writes the annotation (admission policy
		// privacy-center); what it wrote cannot be recorded.
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonInvalidAnnotation,
			"Annotation %s cannot be recorded: %v", privacyv1alpha1.AnnotationDeliveries, err)
		return true
	}
	if rc != nil && pr.Status.Receipt == nil {
		return len(marks) <= len(pr.Status.Deliveries)
	}
	for n := len(pr.Status.Deliveries) + 1; n <= len(marks); n++ {
		mark := marks[n-1]
		entry := privacyv1alpha1.ExportDelivery{DeliveredAt: metav1.NewTime(mark.At), Format: mark.Format}
		if rc != nil {
			id := receipt.DeliveryOwnerID(pr.Name, string(pr.UID), n)
			ref, _, written := rc.result(id)
			if !written {
				// The Notary retries a failed write and wakes the request
				// once it is stored.
				if !rc.Notary.Known(id) {
					doc := deliveryReceipt(pr, n, mark)
					s.after = append(s.after, func() { rc.Notary.Submit(id, doc) })
				}
				return false
			}
			entry.Receipt = receiptRef(ref)
			now := s.now
			s.after = append(s.after, func() { rc.settle(id, ref, now) })
		}
		pr.Status.Deliveries = append(pr.Status.Deliveries, entry)
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonExportDelivered,
			"The privacy center handed the Access export to the person (delivery %d, %s)", n, mark.Format)
	}
	return true
}

// channelPrivacyCenter is the channel annotation of the privacy center's
// requests.
const channelPrivacyCenter = "privacy-center"

// deliveryReceipt is the receipt of a request's n-th delivery: no personal
// data, the export by its hash.
func deliveryReceipt(pr *privacyv1alpha1.PrivacyRequest, n int, mark privacyv1alpha1.DeliveryMark) *receipt.Receipt {
	d := &receipt.Delivery{
		Request: pr.Name, UID: string(pr.UID), Number: n, Format: string(mark.Format), DeliveredAt: mark.At.UTC(),
		Channel: pr.Annotations[privacyv1alpha1.AnnotationChannel],
	}
	if exp := pr.Status.Export; exp != nil {
		d.Export = &receipt.Export{Location: exp.Location, SHA256: exp.SHA256, Bytes: exp.Bytes}
	}
	if pr.Status.Receipt != nil {
		d.RequestReceipt = uint64(pr.Status.Receipt.Sequence)
	}
	return &receipt.Receipt{Kind: receipt.KindDelivery, Delivery: d}
}
