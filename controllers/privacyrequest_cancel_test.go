package controllers_test

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
)

// receiptOfUID finds the receipt of the request with uid in the suite's
// receipt store ("" when there is none).
func receiptOfUID(g Gomega, uid string) *receipt.Request {
	names, err := receipts.List(ctx, "")
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range names {
		if _, ok := receipt.ParseName(name); !ok {
			continue
		}
		data, err := receipts.Get(ctx, name)
		if err != nil {
			continue
		}
		if _, r, err := receipt.Decode(data); err == nil && r.Request != nil && r.Request.UID == uid {
			return r.Request
		}
	}
	return nil
}

var _ = Describe("A request deleted before it finished", func() {
	It("leaves a Cancelled receipt of what each source did, then goes", func() {
		ns := newNamespace()
		newSource(ns, "fast")
		newSource(ns, "slow", func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) { spec.Suspend = true })
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(ContainElement(And(HaveField("Name", "fast"), HaveField("Phase", privacyv1alpha1.SourcePhaseCompleted))))
			g.Expect(pr.Finalizers).To(ContainElement(privacyv1alpha1.FinalizerCancelJobs), "done at one source, not at the other")
		}).Should(Succeed())

		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue())

		var doc *receipt.Request
		Eventually(func(g Gomega) { doc = receiptOfUID(g, string(pr.UID)); g.Expect(doc).NotTo(BeNil()) }).Should(Succeed(),
			"the receipt is stored before the request goes")
		Expect(doc.Outcome).To(Equal(receipt.OutcomeCancelled))
		Expect(doc.FinishedAt.IsZero()).To(BeFalse())
		Expect(doc.Sources).To(ConsistOf(
			And(HaveField("Name", "fast"), HaveField("Outcome", receipt.OutcomeCompleted)),
			And(HaveField("Name", "slow"), HaveField("Outcome", receipt.OutcomeCancelled), HaveField("Message", ContainSubstring("deleted before the source finished")))))
		Expect(doc.Subject.Fingerprints).To(Equal(receipt.Fingerprints(fingerprintKey(), ada)))
	})

	It("leaves none when nothing reached a source", func() {
		ns := newNamespace()
		newSource(ns, "crm")
		pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		pr.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Subject).NotTo(BeNil(), "fixed while it waits for its approval")
		}).Should(Succeed())
		Expect(pr.Finalizers).To(BeEmpty(), "no write on the common path")
		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue())
		Consistently(func(g Gomega) { g.Expect(receiptOfUID(g, string(pr.UID))).To(BeNil()) }, "1s").Should(Succeed())
	})
})
