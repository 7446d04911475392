package controllers_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

const ordersExemption = "CCPA 1798.105(d)(1)"

// refusingDelete makes a source refuse Deletes under ordersExemption.
func refusingDelete() sourceOption {
	return func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
		cfg.Delete = func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{}, datasource.Refuse(ordersExemption, "Open orders are kept until delivered.")
		}
	}
}

var _ = Describe("Refusals under an exemption", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("completes the request with the refused sources and their basis, in status, Events and the receipt", func() {
		newSource(ns, "crm")
		newSource(ns, "orders", refusingDelete())
		manualSource(ns, "archive", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "archive")
		Eventually(func() error {
			cur := &privacyv1alpha1.PrivacyTask{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(task), cur); err != nil {
				return err
			}
			cur.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultRefused, Exemption: "HGB 257",
				Note: "Invoices are kept ten years.", CompletedBy: "records-clerk", CompletedAt: metav1.Now()}
			return k8sClient.Update(ctx, cur)
		}).Should(Succeed())

		pr = withReceipt(finished(pr))
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted), "a refusal is not a failure")
		Expect(pr.Status.Summary.Refused).To(BeEquivalentTo(2))
		Expect(pr.Status.Summary.Succeeded).To(BeEquivalentTo(1))
		Expect(pr.Status.Summary.Failed).To(BeZero())
		Expect(pr.Status.Progress).To(Equal("3/3"))
		orders := sourceEntry(pr, "orders")
		Expect(orders.Phase).To(Equal(privacyv1alpha1.SourcePhaseRefused))
		Expect(orders.Exemption).To(Equal(ordersExemption))
		Expect(orders.Message).To(Equal("Open orders are kept until delivered."))
		Expect(condition(orders.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonRefusedUnderExemption))
		archive := sourceEntry(pr, "archive")
		Expect(archive.Phase).To(Equal(privacyv1alpha1.SourcePhaseRefused))
		Expect(archive.Exemption).To(Equal("HGB 257"))
		Expect(archive.CompletedBy).To(Equal("records-clerk"))

		ready := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
		Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonCompletedWithRefusals))
		Expect(ready.Message).To(ContainSubstring("1 of 3 data sources finished; 2 refused under an exemption: "))
		Expect(ready.Message).To(ContainSubstring(ns + "/orders (" + ordersExemption + ")"))
		Expect(ready.Message).To(ContainSubstring(ns + "/archive (HGB 257)"))
		Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil())

		doc := readReceipt(pr.Status.Receipt).Request
		Expect(doc.Outcome).To(Equal(receipt.OutcomeCompleted))
		Expect(doc.Sources).To(ContainElements(
			And(HaveField("Name", "orders"), HaveField("Outcome", receipt.OutcomeRefused), HaveField("Exemption", ordersExemption)),
			And(HaveField("Name", "archive"), HaveField("Outcome", receipt.OutcomeRefused), HaveField("Exemption", "HGB 257")),
			And(HaveField("Name", "crm"), HaveField("Outcome", receipt.OutcomeCompleted), HaveField("Exemption", "")),
		))

		Eventually(func(g Gomega) []string {
			return eventReasons(g, metav1.NamespaceDefault, func(e corev1.Event) bool {
				return e.InvolvedObject.Name == pr.Name && e.Related != nil && e.Related.Name == "orders" && e.Type == corev1.EventTypeNormal
			})
		}).Should(ContainElement(privacyv1alpha1.ReasonRefusedUnderExemption), "a Normal Event on the request, naming the source")
		Eventually(func(g Gomega) []string {
			return eventReasons(g, metav1.NamespaceDefault, func(e corev1.Event) bool { return e.InvolvedObject.Name == pr.Name })
		}).Should(ContainElement(privacyv1alpha1.ReasonCompletedWithRefusals))
	})

	It("fails a child's Delete that a source refuses under an exemption: only a LegalHold keeps a child's data", func() {
		newSource(ns, "orders", refusingDelete())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.Child = true
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())

		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		orders := sourceEntry(pr, "orders")
		Expect(orders.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(orders.Exemption).To(BeEmpty())
		c := condition(orders.Conditions, privacyv1alpha1.SourceConditionCompleted)
		Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonExemptionNotAllowed))
		Expect(c.Message).To(ContainSubstring("refused the job under " + ordersExemption + ", but a child's data is deleted whatever the exemption"))
	})
})
