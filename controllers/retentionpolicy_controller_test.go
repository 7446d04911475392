package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func newPolicy(schedule string, tz *string) *privacyv1alpha1.RetentionPolicy {
	return &privacyv1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "usage-"},
		Spec: privacyv1alpha1.RetentionPolicySpec{
			Categories: []privacyv1alpha1.DataCategory{"usage"},
			RetainFor:  "400d",
			Schedule:   schedule,
			TimeZone:   tz,
		},
	}
}

var _ = Describe("RetentionPolicy controller", func() {
	It("computes the next slot in the policy's time zone", func() {
		rp := newPolicy("0 3 * * *", ptr.To("Europe/Berlin"))
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())

		// The fake clock says 2026-11-29 12:00 UTC; 03:00 in Berlin (UTC+1 in
		// winter) next falls on 2026-11-30 02:00 UTC.
		want := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
			g.Expect(rp.Status.NextScheduleTime).NotTo(BeNil())
			g.Expect(rp.Status.NextScheduleTime.Time).To(BeTemporally("==", want))
			g.Expect(meta.IsStatusConditionPresentAndEqual(rp.Status.Conditions, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown)).To(BeTrue())
			g.Expect(meta.FindStatusCondition(rp.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil())
		}).Should(Succeed())
	})

	DescribeTable("reports a spec that admission let through but cannot be scheduled as Stalled",
		func(schedule string, tz *string, wantMessage string) {
			rp := newPolicy(schedule, tz)
			Expect(k8sClient.Create(ctx, rp)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
				g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
				stalled := meta.FindStatusCondition(rp.Status.Conditions, privacyv1alpha1.ConditionStalled)
				g.Expect(stalled).NotTo(BeNil())
				g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(stalled.Reason).To(Equal(privacyv1alpha1.ReasonInvalidSchedule))
				g.Expect(stalled.Message).To(ContainSubstring(wantMessage))
				g.Expect(rp.Status.NextScheduleTime).To(BeNil())
				g.Expect(kstatusOf(g, rp)).To(Equal(status.FailedStatus))
			}).Should(Succeed())
		},
		Entry("hour out of range", "0 25 * * *", nil, "invalid schedule"),
		Entry("unknown time zone", "0 3 * * *", ptr.To("Mars/Olympus_Mons"), `unknown time zone "Mars/Olympus_Mons"`),
	)

	It("schedules nothing while suspended", func() {
		rp := newPolicy("@daily", nil)
		rp.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
			ready := meta.FindStatusCondition(rp.Status.Conditions, privacyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonSuspended))
			g.Expect(rp.Status.NextScheduleTime).To(BeNil())
		}).Should(Succeed())
	})
})
