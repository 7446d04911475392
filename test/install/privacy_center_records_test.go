package install_test

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// deliveriesRecord: only the center records the deliveries of an export,
// on requests it filed, and only by adding to the record (admission
// policy privacy-center); file files a request as the center does.
func deliveriesRecord(t *testing.T, admin, center client.Client, file func(intake.Submission) (*privacyv1alpha1.PrivacyRequest, error)) {
	ctx := context.Background()
	filed, err := file(submission())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 2 {
		if err := intake.RecordDelivery(ctx, center, filed.Name, privacyv1alpha1.DeliveryJSON, at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("the center's delivery #%d: %v", i+1, err)
		}
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(filed), filed); err != nil {
		t.Fatal(err)
	}
	marks, err := privacyv1alpha1.ParseDeliveries(filed.Annotations[privacyv1alpha1.AnnotationDeliveries])
	if err != nil || len(marks) != 2 {
		t.Fatalf("deliveries %q: %v", filed.Annotations[privacyv1alpha1.AnnotationDeliveries], err)
	}
	const refused = "only the privacy center records the deliveries"
	edit := func(c client.Client, pr *privacyv1alpha1.PrivacyRequest, value string) error {
		patch := client.MergeFrom(pr.DeepCopy())
		cur := pr.DeepCopy()
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[privacyv1alpha1.AnnotationDeliveries] = value
		return c.Patch(ctx, cur, patch)
	}
	if err := edit(admin, filed, privacyv1alpha1.FormatDeliveries(append(marks, marks[0]))); !policyRefused(err, refused) {
		t.Errorf("an admin adding a delivery: %v", err)
	}
	if err := edit(center, filed, privacyv1alpha1.FormatDeliveries(marks[1:])); !policyRefused(err, refused) {
		t.Errorf("the center rewriting its record: %v", err)
	}
	desk := request(newNonce(), func(pr *privacyv1alpha1.PrivacyRequest) {
		pr.Annotations = map[string]string{privacyv1alpha1.AnnotationDeliveries: privacyv1alpha1.FormatDeliveries(marks)}
	})
	if err := admin.Create(ctx, desk); !policyRefused(err, refused) {
		t.Errorf("a request created with deliveries: %v", err)
	}
}
