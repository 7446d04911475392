package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

var _ = Describe("Deliveries of an Access export", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	markDeliveries := func(pr *privacyv1alpha1.PrivacyRequest, marks ...privacyv1alpha1.DeliveryMark) {
		GinkgoHelper()
		patch := client.MergeFrom(pr.DeepCopy())
		if pr.Annotations == nil {
			pr.Annotations = map[string]string{}
		}
		pr.Annotations[privacyv1alpha1.AnnotationDeliveries] = privacyv1alpha1.FormatDeliveries(marks)
		Expect(k8sClient.Patch(ctx, pr, patch)).To(Succeed())
	}

	It("records each delivery the privacy center marks: a Delivery receipt, status.deliveries and an Event", func() {
		newSource(ns, "crm").observed()
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		pr.Annotations = map[string]string{privacyv1alpha1.AnnotationChannel: "privacy-center"}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = withReceipt(finished(pr))
		Expect(pr.Status.Export).NotTo(BeNil())
		Expect(pr.Status.Deliveries).To(BeEmpty())

		first := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		marks := []privacyv1alpha1.DeliveryMark{{Format: privacyv1alpha1.DeliveryJSON, At: first}, {Format: privacyv1alpha1.DeliveryHTML, At: first.Add(time.Minute)}}
		markDeliveries(pr, marks...)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Deliveries).To(HaveLen(2))
		}).Should(Succeed())
		for i, d := range pr.Status.Deliveries {
			Expect(d.Format).To(Equal(marks[i].Format))
			Expect(d.DeliveredAt.Time).To(BeTemporally("==", marks[i].At))
			Expect(d.Receipt).NotTo(BeNil())
			doc := readReceipt(d.Receipt)
			Expect(doc.Kind).To(Equal(receipt.KindDelivery))
			Expect(doc.Sequence).To(BeNumerically(">", pr.Status.Receipt.Sequence))
			Expect(*doc.Delivery).To(MatchFields(IgnoreExtras, Fields{
				"Request": Equal(pr.Name), "UID": Equal(string(pr.UID)), "Number": Equal(i + 1),
				"Format": Equal(string(marks[i].Format)), "RequestReceipt": Equal(uint64(pr.Status.Receipt.Sequence)),
			}))
			Expect(doc.Delivery.DeliveredAt).To(BeTemporally("==", marks[i].At))
			Expect(doc.Delivery.Export).NotTo(BeNil())
			Expect(doc.Delivery.Export.SHA256).To(Equal(pr.Status.Export.SHA256))
		}
		Eventually(func(g Gomega) []string {
			return eventReasons(g, metav1.NamespaceDefault, func(e corev1.Event) bool { return e.InvolvedObject.Name == pr.Name })
		}).Should(ContainElements(privacyv1alpha1.ReasonExportDelivered, privacyv1alpha1.ReasonExportDelivered))

		By("recording a third delivery once, after the first two")
		settled := pr.Status.Deliveries
		markDeliveries(pr, append(marks, privacyv1alpha1.DeliveryMark{Format: privacyv1alpha1.DeliveryJSON, At: first.Add(time.Hour)})...)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Deliveries).To(HaveLen(3))
		}).Should(Succeed())
		Expect(pr.Status.Deliveries[:2]).To(Equal(settled))
		Expect(readReceipt(pr.Status.Deliveries[2].Receipt).Delivery.Number).To(Equal(3))
	})

	It("records no delivery on a request not filed at the privacy center", func() {
		newSource(ns, "crm").observed()
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = withReceipt(finished(pr))
		markDeliveries(pr, privacyv1alpha1.DeliveryMark{Format: privacyv1alpha1.DeliveryJSON, At: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)})
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Deliveries).To(BeEmpty())
		}, 2*time.Second).Should(Succeed())
	})

	It("refuses with a Warning Event an annotation it cannot read, and records nothing", func() {
		newSource(ns, "crm").observed()
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		pr.Annotations = map[string]string{privacyv1alpha1.AnnotationChannel: "privacy-center"}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = withReceipt(finished(pr))
		patch := client.MergeFrom(pr.DeepCopy())
		pr.Annotations[privacyv1alpha1.AnnotationDeliveries] = "zip yesterday"
		Expect(k8sClient.Patch(ctx, pr, patch)).To(Succeed())
		Eventually(func(g Gomega) []string {
			return eventReasons(g, metav1.NamespaceDefault, func(e corev1.Event) bool { return e.InvolvedObject.Name == pr.Name })
		}).Should(ContainElement(privacyv1alpha1.ReasonInvalidAnnotation))
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Deliveries).To(BeEmpty())
		}, time.Second).Should(Succeed())
	})
})
