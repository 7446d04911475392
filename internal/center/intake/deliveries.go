package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

// ErrTooManyDeliveries: the export was handed over MaxDeliveries times;
// the center refuses more (the person can ask the privacy team).
var ErrTooManyDeliveries = fmt.Errorf("the export was delivered %d times, the most the center records", privacyv1alpha1.MaxDeliveries)

// RecordDelivery marks on the request one handing-over of its export
// (annotation deliveries), for the operator to write its Delivery
// receipt. It is recorded before the export is sent, so that no delivery
// goes unrecorded; replicas that deliver at once do not lose each
// other's marks (the patch is refused on a conflict and retried).
func RecordDelivery(ctx context.Context, c client.Client, name string, format privacyv1alpha1.DeliveryFormat, at time.Time) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		pr := &privacyv1alpha1.PrivacyRequest{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, pr); err != nil {
			return err
		}
		marks, err := privacyv1alpha1.ParseDeliveries(pr.Annotations[privacyv1alpha1.AnnotationDeliveries])
		if err != nil {
			return fmt.Errorf("annotation %s: %w", privacyv1alpha1.AnnotationDeliveries, err)
		}
		if len(marks) >= privacyv1alpha1.MaxDeliveries {
			return ErrTooManyDeliveries
		}
		patch := client.MergeFromWithOptions(pr.DeepCopy(), client.MergeFromWithOptimisticLock{})
		marks = append(marks, privacyv1alpha1.DeliveryMark{Format: format, At: at.UTC().Truncate(time.Second)})
		if pr.Annotations == nil {
			pr.Annotations = map[string]string{}
		}
		pr.Annotations[privacyv1alpha1.AnnotationDeliveries] = privacyv1alpha1.FormatDeliveries(marks)
		return c.Patch(ctx, pr, patch)
	})
}

// AddressOf opens the sealed notice address of a request the center filed.
func AddressOf(ring *seal.Ring, pr *privacyv1alpha1.PrivacyRequest, now time.Time) (Address, error) {
	sealed := pr.Annotations[AnnotationNotify]
	if pr.Annotations[privacyv1alpha1.AnnotationChannel] != Channel || sealed == "" {
		return Address{}, errors.New("the request was not filed at the privacy center")
	}
	opened, err := ring.Open(sealed, PurposeNotify, now)
	if err != nil {
		return Address{}, err
	}
	var to Address
	if err := json.Unmarshal(opened.Payload, &to); err != nil || to.Email == "" {
		return Address{}, errors.New("the notice address does not decode")
	}
	return to, nil
}
