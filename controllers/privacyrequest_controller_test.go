package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/deadline"
)

var _ = Describe("PrivacyRequest due dates", func() {
	It("records the due date under the regulation and moves it with an extension", func() {
		pr := request(newNamespace(), privacyv1alpha1.RequestTypeAccess, ada)
		pr.Spec.Regulation = privacyv1alpha1.RegulationCCPA
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.ObservedGeneration).To(Equal(pr.Generation))
			g.Expect(pr.Status.DueAt).NotTo(BeNil())
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("==", pr.CreationTimestamp.Add(deadline.CCPAPeriod)))
		}).Should(Succeed())

		update(pr, func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Spec.Extension = &privacyv1alpha1.Extension{Days: 45, Reason: "Complex request across many systems."}
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.ObservedGeneration).To(Equal(pr.Generation))
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("==", pr.CreationTimestamp.Add(2*deadline.CCPAPeriod)))
		}).Should(Succeed())
	})

	It("takes an explicit deadline over the regulation's", func() {
		pr := request(newNamespace(), privacyv1alpha1.RequestTypeAccess, ada)
		explicit := metav1.NewTime(time.Date(2027, 1, 15, 9, 0, 0, 0, time.UTC))
		pr.Spec.Deadline = &explicit
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.DueAt).NotTo(BeNil())
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("==", explicit.Time))
		}).Should(Succeed())
	})

	It("waits, Reconciling, while no DataSource matches", func() {
		pr := request(newNamespace(), privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhasePending))
			ready := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonNoMatchingSources))
			g.Expect(kstatusOf(g, pr)).To(Equal(status.InProgressStatus))
		}).Should(Succeed())
	})
})
