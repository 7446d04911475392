package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// TestRefused: a request done in part because sources refused under
// exemptions tells the person each legal basis, on the status page and in
// the notice (CCPA 7022(f), 7024), once each, never a source's name or
// its message.
func TestRefused(t *testing.T) {
	c := newCenter(t, nil)
	email := "refused@example.com"
	pr, status := c.fileByLink(t, email, url.Values{"type": {"Delete"}})
	pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
	pr.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: privacyv1alpha1.ReasonCompletedWithRefusals, Message: "shop/billing refused", LastTransitionTime: metav1.Now()}}
	pr.Status.Sources = []privacyv1alpha1.SourceStatus{
		{Namespace: "shop", Name: "billing", Phase: privacyv1alpha1.SourcePhaseRefused, Exemption: "CCPA 1798.105(d)(8)", Message: "ticket 4711 open"},
		{Namespace: "shop", Name: "ledger", Phase: privacyv1alpha1.SourcePhaseRefused, Exemption: "CCPA 1798.105(d)(8)"},
		{Namespace: "crm", Name: "contacts", Phase: privacyv1alpha1.SourcePhaseRefused, Exemption: "GDPR Art. 17(3)(b)"},
		{Namespace: "crm", Name: "newsletter", Phase: privacyv1alpha1.SourcePhaseCompleted},
	}
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	bases := []string{"CCPA 1798.105(d)(8)", "GDPR Art. 17(3)(b)"}

	_, body, _ := c.do(t, "GET", status, nil, "Accept-Language", "en")
	if !strings.Contains(body, "some of your data is kept because the law allows or requires us to keep it") {
		t.Error("the status page does not say the request was done in part")
	}
	for _, b := range bases {
		if !strings.Contains(body, b) {
			t.Errorf("the status page lacks the basis %q", b)
		}
	}
	for _, internal := range []string{"billing", "ledger", "contacts", "ticket 4711"} {
		if strings.Contains(body, internal) {
			t.Errorf("the status page names %q", internal)
		}
	}

	stop := startNotifier(t, c, true)
	defer stop()
	notice := awaitSubject(t, c, email, "done, in part")
	for _, b := range bases {
		if strings.Count(notice.Text, "- "+b) != 1 {
			t.Errorf("the notice lists the basis %q %d times, want once:\n%s", b, strings.Count(notice.Text, "- "+b), notice.Text)
		}
	}
	for _, internal := range []string{"billing", "ledger", "contacts", "ticket 4711"} {
		if strings.Contains(notice.Text, internal) {
			t.Errorf("the notice names %q", internal)
		}
	}
}
