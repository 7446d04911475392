package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

var _ = Describe("Legal holds", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("keeps Delete requests from held sources, by source and by subject fingerprint, and accounts for it", func() {
		billing := newSource(ns, "billing", labelled("team", "billing-"+ns), categorised("invoices", "contact"))
		crm := newSource(ns, "crm", labelled("team", "crm-"+ns), categorised("contact"))
		audit := newSource(ns, "audit")
		bySource := legalHold("billing-"+ns, privacyv1alpha1.LegalHoldScope{
			DataSourceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "billing-" + ns}},
		}, time.Time{})
		bySource.Spec.Basis = "Kept for 10 years under tax law"
		bySubject := legalHold("ada-"+ns, privacyv1alpha1.LegalHoldScope{
			DataSourceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "crm-" + ns}},
			Subjects:           []string{receipt.Fingerprint(fingerprintKey(), "email", adaEmail)},
		}, time.Time{})
		Expect(k8sClient.Create(ctx, bySource)).To(Succeed())
		Expect(k8sClient.Create(ctx, bySubject)).To(Succeed())

		adaDelete := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		graceDelete := request(ns, privacyv1alpha1.RequestTypeDelete, map[string]string{"email": "grace@example.com"})
		adaAccess := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		for _, pr := range []*privacyv1alpha1.PrivacyRequest{adaDelete, graceDelete, adaAccess} {
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		}

		By("holding ada's Delete at billing (every subject) and crm (her fingerprint)")
		pr := withReceipt(finished(adaDelete))
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(sourceEntry(pr, "billing").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(sourceEntry(pr, "billing").Hold).To(Equal(bySource.Name))
		Expect(sourceEntry(pr, "billing").Message).To(ContainSubstring("Matter " + bySource.Name))
		Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(sourceEntry(pr, "crm").Hold).To(Equal(bySubject.Name))
		Expect(sourceEntry(pr, "audit").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		Expect(pr.Status.HeldBy).To(ConsistOf(bySource.Name, bySubject.Name))
		Expect(pr.Status.Summary.Held).To(Equal(int32(2)))
		Expect(pr.Status.Progress).To(Equal("3/3"))
		ready := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
		Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonCompletedWithHolds))
		Expect(ready.Message).To(ContainSubstring(ns + "/billing (LegalHold " + bySource.Name + ")"))
		Expect(pr.Status.Kept).To(ConsistOf(
			privacyv1alpha1.KeptData{Categories: []privacyv1alpha1.DataCategory{"contact", "invoices"}, Basis: "Kept for 10 years under tax law"},
			privacyv1alpha1.KeptData{Categories: []privacyv1alpha1.DataCategory{"contact"}}), "what the person is told was kept, and why")

		doc := readReceipt(pr.Status.Receipt).Request
		Expect(doc.Holds).To(ConsistOf(
			receipt.Hold{Name: bySource.Name, Reason: "Matter " + bySource.Name},
			receipt.Hold{Name: bySubject.Name, Reason: "Matter " + bySubject.Name}))
		var outcomes []receipt.Outcome
		for _, s := range doc.Sources {
			outcomes = append(outcomes, s.Outcome)
		}
		Expect(outcomes).To(ConsistOf(receipt.OutcomeHeld, receipt.OutcomeHeld, receipt.OutcomeCompleted))

		By("holding grace's Delete at billing only: the subject hold names ada")
		pr = finished(graceDelete)
		Expect(sourceEntry(pr, "billing").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))

		By("sending an Access request everywhere: holds keep data, they do not hide it")
		pr = finished(adaAccess)
		Expect(pr.Status.HeldBy).To(BeEmpty())
		for _, name := range []string{"billing", "crm", "audit"} {
			Expect(sourceEntry(pr, name).Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		}

		By("no Delete job reached a held source")
		deletes := func(s *source) (n int) {
			for _, j := range s.jobs() {
				if j.Type == "Delete" {
					n++
				}
			}
			return n
		}
		Expect(deletes(billing)).To(BeZero())
		Expect(deletes(crm)).To(Equal(1), "grace's")
		Expect(deletes(audit)).To(Equal(2))

		By("counting on each hold the requests it held")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(bySource), bySource)).To(Succeed())
			g.Expect(bySource.Status.RequestsHeld).To(Equal(int32(2)))
			g.Expect(condition(bySource.Status.Conditions, privacyv1alpha1.ConditionActive).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(bySubject), bySubject)).To(Succeed())
			g.Expect(bySubject.Status.RequestsHeld).To(Equal(int32(1)))
		}).Should(Succeed())
	})
})
