package v1alpha1

// What the operator records on a request for the person's side (the
// privacy center): the deliveries of an Access export and what legal
// holds kept.

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationDeliveries on a PrivacyRequest is the privacy center's record
// of the times it handed the Access export to the person, oldest first:
// comma-separated "FORMAT TIME" entries (FORMAT json or html, TIME RFC
// 3339 in UTC). Only the center writes it (admission policy
// privacy-center); the operator writes a Delivery receipt for each entry
// and lists them in status.deliveries.
const AnnotationDeliveries = "privacyoperator.io/deliveries"

// MaxDeliveries bounds the deliveries of one export: the center refuses
// more, and status.deliveries holds them all.
const MaxDeliveries = 20

// DeliveryFormat is how an export was handed over.
// +kubebuilder:validation:Enum=json;html
type DeliveryFormat string

// The formats of a delivery.
const (
	// DeliveryJSON: the export document as stored, downloaded.
	DeliveryJSON DeliveryFormat = "json"
	// DeliveryHTML: the export shown as a readable page.
	DeliveryHTML DeliveryFormat = "html"
)

// ExportDelivery is one handing-over of an Access export to the person.
type ExportDelivery struct {
	// deliveredAt is when the privacy center began sending the export.
	// +required
	DeliveredAt metav1.Time `json:"deliveredAt"`
	// format the export was handed over in.
	// +required
	Format DeliveryFormat `json:"format"`
	// receipt locates the delivery's signed receipt (kind Delivery);
	// absent when the operator keeps no receipts.
	// +optional
	Receipt *ReceiptReference `json:"receipt,omitempty"`
}

// DeliveryMark is one entry of AnnotationDeliveries.
// +kubebuilder:object:generate=false
type DeliveryMark struct {
	Format DeliveryFormat
	At     time.Time
}

// String is the mark as the annotation holds it.
func (m DeliveryMark) String() string {
	return string(m.Format) + " " + m.At.UTC().Format(time.RFC3339)
}

// ParseDeliveries reads AnnotationDeliveries; "" is no delivery. An entry
// that does not parse, or more than MaxDeliveries, is an error naming it.
func ParseDeliveries(v string) ([]DeliveryMark, error) {
	if v == "" {
		return nil, nil
	}
	entries := strings.Split(v, ",")
	if len(entries) > MaxDeliveries {
		return nil, fmt.Errorf("%d deliveries, at most %d", len(entries), MaxDeliveries)
	}
	out := make([]DeliveryMark, 0, len(entries))
	for i, e := range entries {
		format, at, ok := strings.Cut(e, " ")
		t, err := time.Parse(time.RFC3339, at)
		if !ok || err != nil || (format != string(DeliveryJSON) && format != string(DeliveryHTML)) {
			return nil, fmt.Errorf("entry %d is not \"json|html RFC3339-time\"", i+1)
		}
		out = append(out, DeliveryMark{Format: DeliveryFormat(format), At: t.UTC()})
	}
	return out, nil
}

// FormatDeliveries writes marks as AnnotationDeliveries holds them.
func FormatDeliveries(marks []DeliveryMark) string {
	out := make([]string, len(marks))
	for i, m := range marks {
		out[i] = m.String()
	}
	return strings.Join(out, ",")
}

// KeptData is what LegalHolds with one basis kept from a request.
type KeptData struct {
	// categories of data kept: those the held sources declare that the
	// holds cover; empty when the sources declare none.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`
	// basis is the holds' spec.basis; empty when they give none.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Basis string `json:"basis,omitempty"`
}
