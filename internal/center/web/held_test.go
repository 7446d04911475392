package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// TestHeld: a request done in part under legal holds tells the person,
// on the status page and in the notice, which kinds of data are kept and
// on what basis (the law in general when a hold gives none), never a
// source's or a hold's name.
func TestHeld(t *testing.T) {
	c := newCenter(t, nil)
	email := "held@example.com"
	pr, status := c.fileByLink(t, email, url.Values{"type": {"Delete"}})
	pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
	pr.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: privacyv1alpha1.ReasonCompletedWithHolds, Message: "shop/billing (LegalHold tax-2026)", LastTransitionTime: metav1.Now()}}
	pr.Status.HeldBy = []string{"tax-2026", "matter-17"}
	pr.Status.Kept = []privacyv1alpha1.KeptData{
		{Categories: []privacyv1alpha1.DataCategory{"contact", "invoices"}, Basis: "Kept for 10 years under tax law"},
		{Categories: []privacyv1alpha1.DataCategory{"orders"}},
	}
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	want := []string{"contact, invoices: Kept for 10 years under tax law", "orders: the law requires us to keep it"}

	_, body, _ := c.do(t, "GET", status, nil, "Accept-Language", "en")
	for _, line := range append(want, "What we keep, and why:") {
		if !strings.Contains(body, line) {
			t.Errorf("the status page lacks %q", line)
		}
	}
	for _, internal := range []string{"tax-2026", "matter-17", "shop/billing"} {
		if strings.Contains(body, internal) {
			t.Errorf("the status page names %q", internal)
		}
	}

	stop := startNotifier(t, c, true)
	defer stop()
	held := awaitSubject(t, c, email, "done, in part")
	for _, line := range want {
		if !strings.Contains(held.Text, "- "+line) {
			t.Errorf("the held notice lacks %q:\n%s", line, held.Text)
		}
	}
}
