package controllers_test

import (
	"context"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// newPolicy returns a daily 03:00 policy on the usage data of ns's DataSources.
func newPolicy(ns, schedule string, tz *string) *privacyv1alpha1.RetentionPolicy {
	return &privacyv1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "usage-"},
		Spec: privacyv1alpha1.RetentionPolicySpec{
			Categories:        []privacyv1alpha1.DataCategory{"usage"},
			RetainFor:         "30d",
			Schedule:          schedule,
			TimeZone:          tz,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{testIDLabel: ns}},
		},
	}
}

// purging makes a source serve Purge and hold the given categories.
func purging(cats ...privacyv1alpha1.DataCategory) sourceOption {
	return func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		spec.RequestTypes = append(spec.RequestTypes, privacyv1alpha1.RequestTypePurge)
		spec.Categories = cats
	}
}

// at moves the schedule's clock and pokes the policies so they look at it
// (the clock is fake: nothing would wake them before the real time passes).
func at(t time.Time, rps ...*privacyv1alpha1.RetentionPolicy) {
	GinkgoHelper()
	// A policy counts slots from when it was first seen: wait for that.
	for _, rp := range rps {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.NextScheduleTime != nil || rp.Spec.Suspend).To(BeTrue())
		}).Should(Succeed())
	}
	fakeClock.SetTime(t)
	for _, rp := range rps {
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp); err != nil {
				return err
			}
			if rp.Annotations == nil {
				rp.Annotations = map[string]string{}
			}
			rp.Annotations["test/now"] = t.Format(time.RFC3339)
			return k8sClient.Update(ctx, rp)
		}).Should(Succeed())
	}
}

// lastRun waits until the newest run ended and returns the policy.
// runNextSlot makes src Ready, creates a daily policy over it, moves the
// schedule's clock past the next slot and returns that slot's run.
func runNextSlot(ns string, src *source) privacyv1alpha1.RetentionRun {
	GinkgoHelper()
	ready(src.ds)
	rp := newPolicy(ns, "0 3 * * *", nil)
	Expect(k8sClient.Create(ctx, rp)).To(Succeed())
	slot := time.Date(fakeClock.Now().Year(), fakeClock.Now().Month(), fakeClock.Now().Day()+1, 3, 0, 0, 0, time.UTC)
	at(slot.Add(time.Minute), rp)
	run := lastRun(rp, slot)
	fakeClock.SetTime(slot.Add(time.Minute))
	return run
}

func lastRun(rp *privacyv1alpha1.RetentionPolicy, slot time.Time) privacyv1alpha1.RetentionRun {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
		g.Expect(rp.Status.History).NotTo(BeEmpty())
		g.Expect(rp.Status.History[0].ScheduledTime.Time).To(BeTemporally("==", slot))
		g.Expect(rp.Status.History[0].Outcome).NotTo(Equal(privacyv1alpha1.RunOutcomeRunning))
	}).Should(Succeed())
	return rp.Status.History[0]
}

func purgeJobs(src *source) []protocol.Job {
	var out []protocol.Job
	for _, j := range src.jobs() {
		if j.Type == protocol.JobPurge {
			out = append(out, j)
		}
	}
	return out
}

func ready(ds *privacyv1alpha1.DataSource) {
	GinkgoHelper()
	expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
}

// The schedule's clock only moves forward, so these run in order.
var _ = Describe("RetentionPolicy controller", Ordered, Serial, func() {
	day := 24 * time.Hour
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	BeforeAll(func() { fakeClock.SetTime(start) })
	// The other specs' raw sources sign with the real time.
	AfterAll(func() { fakeClock.Reset() })

	It("computes the next slot in the policy's time zone and reports that it matches nothing", func() {
		rp := newPolicy(newNamespace(), "0 3 * * *", ptr.To("Europe/Berlin"))
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		// 03:00 in Berlin (UTC+1 in winter) next falls on 2026-11-30 02:00 UTC.
		want := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
			g.Expect(rp.Status.NextScheduleTime).NotTo(BeNil())
			g.Expect(rp.Status.NextScheduleTime.Time).To(BeTemporally("==", want))
			g.Expect(meta.IsStatusConditionFalse(rp.Status.Conditions, privacyv1alpha1.ConditionMatched)).To(BeTrue())
			g.Expect(condition(rp.Status.Conditions, privacyv1alpha1.ConditionReady).Reason).To(Equal(privacyv1alpha1.ReasonNoMatchingSources))
		}).Should(Succeed())
	})

	DescribeTable("reports a spec that admission let through but cannot be scheduled as Stalled",
		func(schedule string, tz *string, wantMessage string) {
			rp := newPolicy(newNamespace(), schedule, tz)
			Expect(k8sClient.Create(ctx, rp)).To(Succeed())
			expectStalled(rp, func() []metav1.Condition { return rp.Status.Conditions }, privacyv1alpha1.ReasonInvalidSchedule, wantMessage)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
				g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
				g.Expect(condition(rp.Status.Conditions, privacyv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
				g.Expect(rp.Status.NextScheduleTime).To(BeNil())
				g.Expect(kstatusOf(g, rp)).To(Equal(status.FailedStatus))
			}).Should(Succeed())
		},
		Entry("hour out of range", "0 25 * * *", nil, "invalid schedule"),
		Entry("unknown time zone", "0 3 * * *", ptr.To("Mars/Olympus_Mons"), `unknown time zone "Mars/Olympus_Mons"`),
	)

	It("refuses a retainFor below the operator's minimum: Stalled, and no purge is sent", func() {
		ns := newNamespace()
		src := newSource(ns, "usage", purging("usage"))
		rp := newPolicy(ns, "* * * * *", nil)
		rp.Spec.RetainFor = "1h" // the suite's --min-retain-for is 24h
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		expectStalled(rp, func() []metav1.Condition { return rp.Status.Conditions },
			privacyv1alpha1.ReasonRetainForBelowMinimum, "retainFor 1h is shorter than the operator's minimum of 24h0m0s")
		Expect(rp.Status.NextScheduleTime).To(BeNil(), "nothing is scheduled")
		Expect(src.jobs()).To(BeEmpty())
	})

	It("runs the due slot once at each matching source with the right cutoff", func() {
		ns := newNamespace()
		src := newSource(ns, "events", purging("usage", "contact"))
		other := newSource(ns, "crm", purging("contact"))
		ready(src.ds)
		ready(other.ds)
		rp := newPolicy(ns, "0 3 * * *", nil)
		rp.Spec.Action = privacyv1alpha1.RetentionActionAnonymize
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.MatchedSources).To(Equal(int32(1)), "only the source holding usage data")
		}).Should(Succeed())
		Expect(rp.Status.History).To(BeEmpty(), "no slot is due before 03:00")

		slot := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
		at(slot.Add(30*time.Second), rp)
		run := lastRun(rp, slot)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(run.Before.Time).To(BeTemporally("==", slot.Add(-30*day)))
		Expect(run.Sources).To(HaveLen(1))
		Expect(*run.Sources[0].Records).To(Equal(int64(1)))
		Expect(rp.Status.LastScheduleTime.Time).To(BeTemporally("==", slot))
		Expect(rp.Status.LastSuccessfulTime.Time).To(BeTemporally("==", slot))
		Expect(condition(rp.Status.Conditions, privacyv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))

		jobs := purgeJobs(src)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].ID).To(Equal(run.Sources[0].JobID))
		Expect(jobs[0].Purge.Categories).To(Equal([]string{"usage"}))
		Expect(jobs[0].Purge.Before.Equal(slot.Add(-30 * day))).To(BeTrue())
		Expect(jobs[0].Purge.Action).To(Equal(protocol.PurgeAnonymize))
		Expect(jobs[0].Subject).To(BeNil(), "a purge carries no identities")
		Expect(purgeJobs(other)).To(BeEmpty())

		By("not running the same slot again")
		at(slot.Add(time.Minute), rp)
		Consistently(func() int { return len(purgeJobs(src)) }, time.Second).Should(Equal(1))
		Expect(rp.Status.History).To(HaveLen(1))

		By("collapsing missed slots into one run of the latest")
		latest := slot.Add(5 * day)
		at(latest.Add(time.Hour), rp)
		Expect(lastRun(rp, latest).Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(rp.Status.History).To(HaveLen(2))
		Expect(purgeJobs(src)).To(HaveLen(2))

		By("keeping at most historyLimit runs")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp); err != nil {
				return err
			}
			rp.Spec.HistoryLimit = 2
			return k8sClient.Update(ctx, rp)
		}).Should(Succeed())
		next := latest.Add(day)
		at(next.Add(time.Minute), rp)
		lastRun(rp, next)
		Expect(rp.Status.History).To(HaveLen(2))
		Expect(rp.Status.History[1].ScheduledTime.Time).To(BeTemporally("==", latest))

		By("scheduling nothing while suspended")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp); err != nil {
				return err
			}
			rp.Spec.Suspend = true
			return k8sClient.Update(ctx, rp)
		}).Should(Succeed())
		at(next.Add(2*day), rp)
		Consistently(func() int { return len(purgeJobs(src)) }, time.Second).Should(Equal(3))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
		Expect(rp.Status.NextScheduleTime).To(BeNil())
		Expect(condition(rp.Status.Conditions, privacyv1alpha1.ConditionReady)).To(BeNil(), "a suspended policy is not judged: kstatus reads it Current")
		Expect(condition(rp.Status.Conditions, privacyv1alpha1.ConditionSuspended)).To(HaveField("Reason", privacyv1alpha1.ReasonSuspended))
		fakeClock.SetTime(next.Add(2 * day))
	})

	It("retries a source that fails within the slot", func() {
		ns := newNamespace()
		src := newSource(ns, "flaky", purging("usage"), failingFirst(1, http.StatusServiceUnavailable))
		run := runNextSlot(ns, src)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(run.Sources[0].Attempts).To(Equal(int32(2)))
		Expect(src.jobRuns()).To(HaveLen(1))
	})

	It("records a source's failure in its run entry's conditions and as a Warning Event, as requests do", func() {
		ns := newNamespace()
		src := newSource(ns, "broken", purging("usage"), func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Purge = func(context.Context, *protocol.Job) (datasource.Result, error) {
				return datasource.Result{}, datasource.Permanent("the archive is read-only")
			}
		})
		run := runNextSlot(ns, src)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeFailed))
		e := run.Sources[0]
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionDispatched).Status).To(Equal(metav1.ConditionTrue))
		done := condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted)
		Expect(done).NotTo(BeNil())
		Expect(done.Status).To(Equal(metav1.ConditionFalse))
		Expect(done.Reason).To(Equal(privacyv1alpha1.ReasonSourceFailed))
		Expect(done.Message).To(ContainSubstring("the archive is read-only"))
		// Events about a cluster-scoped policy live in the default namespace.
		Eventually(func(g Gomega) {
			reasons := eventReasons(g, metav1.NamespaceDefault, func(ev corev1.Event) bool {
				return ev.InvolvedObject.Kind == "RetentionPolicy" && ev.Type == corev1.EventTypeWarning && ev.Related != nil && ev.Related.Name == "broken"
			})
			g.Expect(reasons).To(ContainElement(privacyv1alpha1.ReasonSourceFailed))
		}).Should(Succeed())
	})

	It("never retries a purge before Retry-After, as requests do", func() {
		ns := newNamespace()
		var mu sync.Mutex
		var arrivals []time.Time
		src := newSource(ns, "busy", purging("usage"), retryingAfter(2, "1", &arrivals, &mu))
		run := runNextSlot(ns, src)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		mu.Lock()
		defer mu.Unlock()
		Expect(arrivals).To(HaveLen(3))
		for i := 1; i < len(arrivals); i++ {
			Expect(arrivals[i].Sub(arrivals[i-1])).To(BeNumerically(">=", time.Second), "retry %d came early", i)
		}
	})

	It("matches a DataSource as soon as its namespace is labelled to fit the selector", func() {
		ns := newNamespace()
		newSource(ns, "late", purging("usage"))
		rp := newPolicy(ns, "0 3 * * *", nil)
		rp.Spec.NamespaceSelector.MatchLabels["team"] = "growth"
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		matched := func(g Gomega) int32 {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
			return rp.Status.MatchedSources
		}
		Eventually(matched).Should(Equal(int32(0)))
		Eventually(func() error {
			namespace := &corev1.Namespace{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
				return err
			}
			namespace.Labels["team"] = "growth"
			return k8sClient.Update(ctx, namespace)
		}).Should(Succeed())
		Eventually(matched).Should(Equal(int32(1)))
	})

	It("reports a selector that admission let through but that does not parse as Stalled", func() {
		rp := newPolicy(newNamespace(), "0 3 * * *", nil)
		rp.Spec.DataSourceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Roughly", Values: []string{"gold"}}}}
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		expectStalled(rp, func() []metav1.Condition { return rp.Status.Conditions }, privacyv1alpha1.ReasonInvalidSpec, "spec.dataSourceSelector")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
			g.Expect(kstatusOf(g, rp)).To(Equal(status.FailedStatus))
		}).Should(Succeed())
	})

	It("tells a policy that was there first of an overlap that comes later, and of its end", func() {
		ns := newNamespace()
		src := newSource(ns, "warehouse", purging("usage"))
		ready(src.ds)
		first := newPolicy(ns, "0 3 * * *", nil)
		Expect(k8sClient.Create(ctx, first)).To(Succeed())
		overlapping := func(g Gomega) metav1.ConditionStatus {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(first), first)).To(Succeed())
			g.Expect(first.Status.ObservedGeneration).To(Equal(first.Generation))
			if o := condition(first.Status.Conditions, privacyv1alpha1.ConditionOverlapping); o != nil {
				return o.Status
			}
			return metav1.ConditionFalse
		}
		Eventually(overlapping).Should(Equal(metav1.ConditionFalse))
		second := newPolicy(ns, "0 4 * * *", nil)
		second.Spec.RetainFor = "400d"
		Expect(k8sClient.Create(ctx, second)).To(Succeed())
		Eventually(overlapping).Should(Equal(metav1.ConditionTrue), "the first policy learns of the second")
		Expect(k8sClient.Delete(ctx, second)).To(Succeed())
		Eventually(overlapping).Should(Equal(metav1.ConditionFalse), "and of its end")
	})

	It("reports overlapping policies on each, and runs both", func() {
		ns := newNamespace()
		src := newSource(ns, "warehouse", purging("usage"))
		ready(src.ds)
		short := newPolicy(ns, "0 3 * * *", nil)
		long := newPolicy(ns, "0 3 * * *", nil)
		long.Spec.RetainFor = "400d"
		Expect(k8sClient.Create(ctx, short)).To(Succeed())
		Expect(k8sClient.Create(ctx, long)).To(Succeed())
		for _, rp := range []*privacyv1alpha1.RetentionPolicy{short, long} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
				o := condition(rp.Status.Conditions, privacyv1alpha1.ConditionOverlapping)
				g.Expect(o).NotTo(BeNil())
				g.Expect(o.Status).To(Equal(metav1.ConditionTrue))
			}).Should(Succeed())
		}
		Expect(condition(short.Status.Conditions, privacyv1alpha1.ConditionOverlapping).Message).To(ContainSubstring(long.Name))
		now := fakeClock.Now()
		slot := time.Date(now.Year(), now.Month(), now.Day()+1, 3, 0, 0, 0, time.UTC)
		at(slot.Add(time.Minute), short, long)
		lastRun(short, slot)
		lastRun(long, slot)
		Expect(purgeJobs(src)).To(HaveLen(2), "both policies purge")
		var cutoffs []time.Time
		for _, j := range purgeJobs(src) {
			cutoffs = append(cutoffs, j.Purge.Before)
		}
		Expect(cutoffs).To(ConsistOf(
			BeTemporally("==", slot.Add(-30*day)), BeTemporally("==", slot.Add(-400*day))))
		fakeClock.SetTime(slot.Add(time.Minute))
	})

	It("marks DataSource categories no policy covers, and clears it when one does", func() {
		ns := newNamespace()
		src := newSource(ns, "lake", purging("usage", "backups"))
		Expect(k8sClient.Create(ctx, newPolicy(ns, "0 3 * * *", nil))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			c := condition(src.ds.Status.Conditions, privacyv1alpha1.ConditionRetentionCovered)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("backups"))
			g.Expect(c.Message).NotTo(ContainSubstring("usage"))
		}).Should(Succeed())

		backups := newPolicy(ns, "0 4 * * 0", nil)
		backups.Spec.Categories = []privacyv1alpha1.DataCategory{"backups"}
		backups.Spec.RetainFor = "35d"
		Expect(k8sClient.Create(ctx, backups)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			g.Expect(condition(src.ds.Status.Conditions, privacyv1alpha1.ConditionRetentionCovered).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
	})

	It("runs a slot exactly once at the source across an operator restart", func() {
		ns := newNamespace()
		release := make(chan struct{})
		src := newSource(ns, "archive", purging("usage"), async, func(s *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			run := cfg.Purge
			cfg.Purge = func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
				<-release
				return run(ctx, job)
			}
		})
		ready(src.ds)
		rp := newPolicy(ns, "0 3 * * *", nil)
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		now := fakeClock.Now()
		slot := time.Date(now.Year(), now.Month(), now.Day()+1, 3, 0, 0, 0, time.UTC)
		at(slot.Add(time.Minute), rp)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.History).NotTo(BeEmpty())
			g.Expect(rp.Status.History[0].Sources[0].Phase).To(Equal(privacyv1alpha1.SourcePhaseDispatched))
		}).Should(Succeed())

		op.stop()
		op = startOperator(op.exportDir)
		close(release)
		Expect(lastRun(rp, slot).Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(src.jobRuns()).To(HaveLen(1))
		for id, n := range src.jobRuns() {
			Expect(n).To(Equal(1), "job %s ran %d times", id, n)
		}
	})

	It("leaves categories under a LegalHold alone, says so on the run and the DataSource, and purges them at the first slot after the hold expires", func() {
		ns := newNamespace()
		src := newSource(ns, "ledger", purging("usage", "billing"), labelled("team", "finance-"+ns))
		ready(src.ds)
		rp := newPolicy(ns, "0 3 * * *", nil)
		rp.Spec.Categories = []privacyv1alpha1.DataCategory{"usage", "billing"}
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		now := fakeClock.Now()
		slot := time.Date(now.Year(), now.Month(), now.Day()+1, 3, 0, 0, 0, time.UTC)
		// The billing hold lasts until noon after the first slot; a
		// second hold on everything at the source expires before it.
		billing := legalHold("billing-"+ns, privacyv1alpha1.LegalHoldScope{
			DataSourceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "finance-" + ns}},
			Categories:         []privacyv1alpha1.DataCategory{"billing"},
		}, slot.Add(9*time.Hour))
		past := legalHold("lapsed-"+ns, privacyv1alpha1.LegalHoldScope{
			DataSourceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "finance-" + ns}},
		}, now.Add(-time.Hour))
		Expect(k8sClient.Create(ctx, billing)).To(Succeed())
		Expect(k8sClient.Create(ctx, past)).To(Succeed())

		By("saying on the DataSource's coverage condition which hold keeps what")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			c := condition(src.ds.Status.Conditions, privacyv1alpha1.ConditionRetentionCovered)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonLegalHold))
			g.Expect(c.Message).To(ContainSubstring("LegalHold " + billing.Name + " keeps billing: not purged."))
		}).Should(Succeed())

		By("purging only usage in the slot the hold covers")
		at(slot.Add(time.Minute), rp)
		run := lastRun(rp, slot)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(run.Sources[0].HeldCategories).To(Equal([]privacyv1alpha1.DataCategory{"billing"}))
		Expect(run.Sources[0].Hold).To(Equal(billing.Name))
		jobs := purgeJobs(src)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Purge.Categories).To(Equal([]string{"usage"}), "the held category is not sent")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(billing), billing)).To(Succeed())
			g.Expect(billing.Status.PurgesHeld).To(Equal(int32(1)))
			g.Expect(condition(billing.Status.Conditions, privacyv1alpha1.ConditionActive).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(past), past)).To(Succeed())
			g.Expect(condition(past.Status.Conditions, privacyv1alpha1.ConditionActive).Reason).To(Equal(privacyv1alpha1.ReasonHoldExpired))
			g.Expect(past.Status.PurgesHeld).To(BeZero(), "an expired hold holds nothing")
		}).Should(Succeed())

		By("the run's receipt recording the held category")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
			g.Expect(rp.Status.History[0].Receipt).NotTo(BeNil())
		}).Should(Succeed())
		doc := readReceipt(rp.Status.History[0].Receipt)
		Expect(doc.Kind).To(Equal(receipt.KindRetentionRun))
		Expect(doc.Retention.Policy.Name).To(Equal(rp.Name))
		Expect(doc.Retention.Sources[0].HeldCategories).To(Equal([]string{"billing"}))
		Expect(doc.Retention.Sources[0].Hold).To(Equal(billing.Name))

		By("purging billing too at the first slot after the hold expired")
		next := slot.Add(day)
		at(next.Add(time.Minute), rp)
		run = lastRun(rp, next)
		Expect(run.Sources[0].HeldCategories).To(BeEmpty())
		jobs = purgeJobs(src)
		Expect(jobs).To(HaveLen(2))
		Expect(jobs[1].Purge.Categories).To(Equal([]string{"usage", "billing"}))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			g.Expect(condition(src.ds.Status.Conditions, privacyv1alpha1.ConditionRetentionCovered).Reason).To(Equal(privacyv1alpha1.ReasonAllCategoriesCovered))
		}).Should(Succeed())
		fakeClock.SetTime(next.Add(time.Minute))
	})

	It("turns a purge at a manual source into a PrivacyTask, and ends the run with the person's outcome", func() {
		rp, slot, task := manualPurgeTask(newNamespace())
		Expect(task.Spec.Type).To(Equal(privacyv1alpha1.RequestTypePurge))
		Expect(task.Spec.Request.Kind).To(Equal("RetentionPolicy"))
		Expect(task.Spec.Identities).To(BeEmpty(), "a purge names no person")
		Expect(task.Spec.Purge).NotTo(BeNil())
		Expect(task.Spec.Purge.Categories).To(Equal([]privacyv1alpha1.DataCategory{"usage"}))
		Expect(task.Spec.Purge.Before.Time).To(BeTemporally("==", slot.Add(-30*day)))
		Expect(rp.Status.History[0].Outcome).To(Equal(privacyv1alpha1.RunOutcomeRunning), "the run waits for the person")
		uid := task.UID
		Consistently(func(g Gomega) {
			cur := &privacyv1alpha1.PrivacyTask{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), cur)).To(Succeed())
			g.Expect(cur.UID).To(Equal(uid), "the task is not taken for an orphan while its run's status is on its way")
		}, 2*time.Second).Should(Succeed())

		complete(task, privacyv1alpha1.TaskResultCompleted, 40, "Boxes 2019-2020 shredded")
		run := lastRun(rp, slot)
		Expect(run.Outcome).To(Equal(privacyv1alpha1.RunOutcomeSucceeded))
		Expect(*run.Sources[0].Records).To(Equal(int64(40)))
		Expect(run.Sources[0].CompletedBy).To(Equal("records-clerk"))
		fakeClock.SetTime(slot.Add(time.Minute))
	})
})
