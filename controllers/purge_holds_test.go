package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// A purge a clerk has not done yet is stopped by a LegalHold filed
// meanwhile, as a Delete is. Serial: it moves the schedule's clock.
var _ = Describe("A LegalHold filed while a purge is under way", Ordered, Serial, func() {
	BeforeAll(func() { fakeClock.SetTime(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)) })
	AfterAll(func() { fakeClock.Reset() })

	It("makes the open purge task moot and ends the source Held", func() {
		ns := newNamespace()
		rp, slot, task := manualPurgeTask(ns)

		hold := legalHold("audit-"+ns, privacyv1alpha1.LegalHoldScope{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			Categories:        []privacyv1alpha1.DataCategory{"usage"},
		}, time.Time{})
		Expect(k8sClient.Create(ctx, hold)).To(Succeed())

		run := lastRun(rp, slot)
		Expect(run.Sources[0].Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(run.Sources[0].Hold).To(Equal(hold.Name))
		Expect(run.Sources[0].Message).To(ContainSubstring("The PrivacyTask of this job is moot"))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			c := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonLegalHold))
		}).Should(Succeed())
		fakeClock.SetTime(slot.Add(time.Minute))
	})
})

// manualPurgeTask registers a manual source of category usage in ns and a
// daily policy over it, moves the schedule's clock past the next slot and
// returns the policy, the slot and the PrivacyTask its run assigned.
func manualPurgeTask(ns string) (*privacyv1alpha1.RetentionPolicy, time.Time, *privacyv1alpha1.PrivacyTask) {
	GinkgoHelper()
	ds := manualSource(ns, "paper-archive", "email")
	update(ds, func(ds *privacyv1alpha1.DataSource) {
		ds.Spec.RequestTypes = append(ds.Spec.RequestTypes, privacyv1alpha1.RequestTypePurge)
		ds.Spec.Categories = []privacyv1alpha1.DataCategory{"usage"}
	})
	rp := newPolicy(ns, "0 3 * * *", nil)
	Expect(k8sClient.Create(ctx, rp)).To(Succeed())
	now := fakeClock.Now()
	slot := time.Date(now.Year(), now.Month(), now.Day()+1, 3, 0, 0, 0, time.UTC)
	at(slot.Add(time.Minute), rp)
	task := &privacyv1alpha1.PrivacyTask{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
		g.Expect(rp.Status.History).NotTo(BeEmpty())
		e := rp.Status.History[0].Sources[0]
		g.Expect(e.Task).NotTo(BeEmpty())
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: e.Task}, task)).To(Succeed())
	}).Should(Succeed())
	return rp, slot, task
}
