package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Serial: the receipt store is the suite's, and it refuses every write here.
var _ = Describe("Requests waiting for their receipts", Serial, func() {
	It("each say why they wait, not only the first in the Notary's queue", func() {
		ns := newNamespace()
		newSource(ns, "billing")
		receipts.fail.Store(true)
		DeferCleanup(func() { receipts.fail.Store(false) })
		var waiting []*privacyv1alpha1.PrivacyRequest
		for range 6 {
			pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			waiting = append(waiting, pr)
		}
		for _, pr := range waiting {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
				g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
				c := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReceiptRecorded)
				g.Expect(c).NotTo(BeNil(), "request %s waits for its receipt without saying why", pr.Name)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonReceiptStoreUnavailable))
			}).Should(Succeed())
		}
		receipts.fail.Store(false)
		for _, pr := range waiting {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
				g.Expect(pr.Status.Receipt).NotTo(BeNil())
				g.Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionReceiptRecorded)).To(BeNil())
			}).Should(Succeed())
		}
	})
})
