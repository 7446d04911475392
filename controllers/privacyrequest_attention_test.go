package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/deadline"
)

// readyOf reads a request and returns its Ready condition.
func readyOf(g Gomega, pr *privacyv1alpha1.PrivacyRequest) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
	ready := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
	g.Expect(ready).NotTo(BeNil())
	return ready
}

// warningsAbout lists the reasons of the Warning Events about a request.
func warningsAbout(g Gomega, pr *privacyv1alpha1.PrivacyRequest) []string {
	return eventReasons(g, "default", func(e corev1.Event) bool {
		return e.InvolvedObject.Name == pr.Name && e.Type == corev1.EventTypeWarning
	})
}

var _ = Describe("PrivacyRequest states a person must act on", func() {
	It("counts the due date from receivedAt, records it in the receipt, and warns when the due date is near", func() {
		ns := newNamespace()
		newSource(ns, "shop")
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		pr.Spec.Suspend = true // waits for an approval: the clock runs all the same
		received := metav1.NewTime(time.Now().Add(-28 * 24 * time.Hour).Truncate(time.Second))
		pr.Spec.ReceivedAt = &received
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.DueAt).NotTo(BeNil())
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("==", deadline.DueAt(pr.Spec, pr.CreationTimestamp.Time)))
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("<", pr.CreationTimestamp.Add(3*24*time.Hour)), "counted from receivedAt, not creation")
			soon := condition(pr.Status.Conditions, privacyv1alpha1.ConditionDueSoon)
			g.Expect(soon).NotTo(BeNil())
			g.Expect(soon.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(soon.Reason).To(Equal(privacyv1alpha1.ReasonApproachingDueDate))
			g.Expect(warningsAbout(g, pr)).To(ContainElement(privacyv1alpha1.ReasonApproachingDueDate))
		}).Should(Succeed())

		update(pr, func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Suspend = false })
		r := finished(pr)
		Expect(r.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(condition(r.Status.Conditions, privacyv1alpha1.ConditionDueSoon)).To(BeNil(), "a finished request is not due soon")
		Eventually(func(g Gomega) {
			rec := receiptOfUID(g, string(r.UID))
			g.Expect(rec).NotTo(BeNil())
			g.Expect(rec.ReceivedAt).NotTo(BeNil())
			g.Expect(*rec.ReceivedAt).To(BeTemporally("==", received.Time))
		}).Should(Succeed())
	})

	It("deletes a child's data within 7 days whatever the regulation, and says so in the receipt", func() {
		ns := newNamespace()
		newSource(ns, "shop")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.Regulation = privacyv1alpha1.RegulationCCPA
		pr.Spec.Child = true
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		r := finished(pr)
		Expect(r.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(r.Status.DueAt.Time).To(BeTemporally("==", r.CreationTimestamp.Add(deadline.ChildPeriod)))
		Eventually(func(g Gomega) {
			rec := receiptOfUID(g, string(r.UID))
			g.Expect(rec).NotTo(BeNil())
			g.Expect(rec.Child).To(BeTrue())
		}).Should(Succeed())
	})

	It("refuses a receivedAt after the request was created, sending nothing", func() {
		ns := newNamespace()
		src := newSource(ns, "shop")
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		later := metav1.NewTime(time.Now().Add(2 * time.Hour))
		pr.Spec.ReceivedAt = &later
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			ready := readyOf(g, pr)
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonInvalidSpec))
			g.Expect(ready.Message).To(ContainSubstring("spec.receivedAt"))
			g.Expect(warningsAbout(g, pr)).To(ContainElement(privacyv1alpha1.ReasonInvalidSpec))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(BeEmpty())
			g.Expect(src.jobs()).To(BeEmpty())
		}, 2*time.Second).Should(Succeed())
	})

	It("says why a request waits, with a Warning Event, when no DataSource matches", func() {
		pr := request(newNamespace(), privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(readyOf(g, pr).Reason).To(Equal(privacyv1alpha1.ReasonNoMatchingSources))
			g.Expect(warningsAbout(g, pr)).To(ConsistOf(privacyv1alpha1.ReasonNoMatchingSources), "one Event, not one per look")
		}).Should(Succeed())
	})
})
