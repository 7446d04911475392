package controllers_test

import (
	"encoding/json"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/controllers"
)

const archiveInstructions = "Search the paper archive in room 4 by e-mail; shred what the request asks to delete."

// manualSource registers a DataSource without an endpoint: its jobs become
// PrivacyTasks.
func manualSource(ns, name string, ids ...privacyv1alpha1.IdentityType) *privacyv1alpha1.DataSource {
	GinkgoHelper()
	ds := &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: privacyv1alpha1.DataSourceSpec{
			Manual: &privacyv1alpha1.ManualSource{Instructions: archiveInstructions, AssigneeGroup: "records-office", SLADays: 8},
			RequestTypes: []privacyv1alpha1.RequestType{
				privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete,
				privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut,
			},
			Identities: ids,
		},
	}
	Expect(k8sClient.Create(ctx, ds)).To(Succeed())
	return ds
}

// taskOf waits until the request's entry for the manual source names its
// task, and returns the task.
func taskOf(pr *privacyv1alpha1.PrivacyRequest, source string) *privacyv1alpha1.PrivacyTask {
	GinkgoHelper()
	task := &privacyv1alpha1.PrivacyTask{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		var e *privacyv1alpha1.SourceStatus
		for i := range pr.Status.Sources {
			if pr.Status.Sources[i].Name == source {
				e = &pr.Status.Sources[i]
			}
		}
		g.Expect(e).NotTo(BeNil())
		g.Expect(e.Task).NotTo(BeEmpty())
		g.Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseDispatched))
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: e.Namespace, Name: e.Task}, task)).To(Succeed())
	}).Should(Succeed())
	return task
}

// complete sets a task's outcome as the person doing it would.
func complete(task *privacyv1alpha1.PrivacyTask, result privacyv1alpha1.TaskResult, records int64, note string) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &privacyv1alpha1.PrivacyTask{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(task), cur); err != nil {
			return err
		}
		cur.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: result, Records: &records, Note: note, CompletedBy: "records-clerk", CompletedAt: metav1.Now()}
		return k8sClient.Update(ctx, cur)
	}).Should(Succeed())
}

func taskGone(task *privacyv1alpha1.PrivacyTask) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), &privacyv1alpha1.PrivacyTask{}))
	}
}

var _ = Describe("Manual DataSources", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("is Ready without a probe, and refuses an endpoint and manual together", func() {
		ds := manualSource(ns, "paper-archive", "email")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			ready := condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonManual))
		}).Should(Succeed())
		Expect(ds.Status.EndpointHost).To(BeEmpty())

		both := ds.DeepCopy()
		both.ObjectMeta = metav1.ObjectMeta{Name: "both", Namespace: ns}
		both.Spec.Endpoint = privacyv1alpha1.Endpoint{URL: "https://crm.example.com/privacy"}
		both.Spec.SigningSecretRef = privacyv1alpha1.SecretKeySelector{Name: "s", Key: "k"}
		Expect(k8sClient.Create(ctx, both)).To(MatchError(ContainSubstring("exactly one of endpoint")))
		neither := ds.DeepCopy()
		neither.ObjectMeta = metav1.ObjectMeta{Name: "neither", Namespace: ns}
		neither.Spec.Manual = nil
		Expect(k8sClient.Create(ctx, neither)).To(MatchError(ContainSubstring("exactly one of endpoint")))
	})

	It("finishes a request across an HTTP and a manual source only when a person completes the task, and names them in the receipt", func() {
		crm := newSource(ns, "crm")
		manualSource(ns, "paper-archive", "email", "phone")
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())

		task := taskOf(pr, "paper-archive")
		By("creating a task with the job, the instructions and only the identity types the source declares")
		Expect(task.Name).To(Equal(sourceEntry(pr, "paper-archive").JobID))
		Expect(task.Spec.Type).To(Equal(privacyv1alpha1.RequestTypeAccess))
		Expect(task.Spec.Request).To(Equal(privacyv1alpha1.TaskRequestReference{Kind: "PrivacyRequest", Name: pr.Name, UID: string(pr.UID)}))
		Expect(task.Spec.Identities).To(Equal(map[string]string{"email": adaEmail}))
		Expect(task.Spec.Instructions).To(Equal(archiveInstructions))
		Expect(task.Spec.AssigneeGroup).To(Equal("records-office"))
		Expect(task.Spec.DueAt.Time).To(BeTemporally("~", pr.Status.DueAt.Time, time.Second))
		Expect(task.Spec.SLADueAt.Sub(task.CreationTimestamp.Time)).To(BeNumerically("~", 8*24*time.Hour, 2*time.Second))
		Expect(task.Labels).To(HaveKeyWithValue(privacyv1alpha1.LabelTaskRequest, pr.Name))
		Expect(task.OwnerReferences).To(ConsistOf(HaveField("UID", pr.UID)))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			c := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonTaskOpen))
			late := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionLate)
			g.Expect(late).NotTo(BeNil())
			g.Expect(late.Reason).To(Equal(privacyv1alpha1.ReasonOnTime))
		}).Should(Succeed())

		By("waiting for the person while the HTTP source is done")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.CompletedAt).To(BeNil())
			e := sourceEntry(pr, "paper-archive")
			g.Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseDispatched))
			g.Expect(e.Attempts).To(Equal(int32(1)))
			g.Expect(e.NextAttemptAt).To(BeNil(), "a task is not polled: its outcome wakes the request")
			g.Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionDispatched).Reason).To(Equal(privacyv1alpha1.ReasonTaskAssigned))
		}, 2*time.Second).Should(Succeed())
		Expect(crm.jobs()).To(HaveLen(1))

		By("recording the person's outcome through the job ledger")
		complete(task, privacyv1alpha1.TaskResultCompleted, 3, "Two letters and a form, scanned and sent by post")
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		e := sourceEntry(pr, "paper-archive")
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		Expect(e.Records).To(Equal(ptrTo[int64](3)))
		Expect(e.CompletedBy).To(Equal("records-clerk"))
		Expect(e.Message).To(Equal("Completed by records-clerk: Two letters and a form, scanned and sent by post"))

		By("filing the task's account as the source's part of the export")
		data, err := os.ReadFile(pr.Status.Export.Location)
		Expect(err).NotTo(HaveOccurred())
		var doc struct {
			Data map[string]map[string]any `json:"data"`
		}
		Expect(json.Unmarshal(data, &doc)).To(Succeed())
		Expect(doc.Data[ns+"/paper-archive"]).To(HaveKeyWithValue("completedBy", "records-clerk"))
		Expect(doc.Data[ns+"/paper-archive"]).To(HaveKeyWithValue("records", BeNumerically("==", 3)))

		By("naming the person in the receipt")
		var src *struct{ Task, CompletedBy string }
		for _, s := range readReceipt(withReceipt(pr).Status.Receipt).Request.Sources {
			if s.Name == "paper-archive" {
				src = &struct{ Task, CompletedBy string }{s.Task, s.CompletedBy}
			}
		}
		Expect(src).NotTo(BeNil())
		Expect(src.Task).To(Equal(task.Name))
		Expect(src.CompletedBy).To(Equal("records-clerk"))

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			c := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal("Completed"))
			g.Expect(condition(task.Status.Conditions, privacyv1alpha1.TaskConditionLate)).To(BeNil())
		}).Should(Succeed())
		By("deleting the task the grace period after the request finished")
		Eventually(taskGone(task)).Should(BeTrue())
	})

	// A person's refusal names its basis (the CRD refuses a Refused outcome
	// without an exemption, test/crd) and completes the request with the
	// source listed as refused: exemptions_test.go.

	It("deletes the task of a deleted request, and creates again a task deleted before it was completed", func() {
		manualSource(ns, "spreadsheet", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "spreadsheet")
		uid := task.UID

		By("creating a deleted open task again, under the same name")
		Expect(k8sClient.Delete(ctx, task)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			g.Expect(task.UID).NotTo(Equal(uid))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		Expect(sourceEntry(pr, "spreadsheet").Attempts).To(Equal(int32(1)), "a new task is not a new delivery attempt")

		By("deleting the task with its request")
		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
		Eventually(taskGone(task)).Should(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue())
	})

	It("deletes a task whose request is gone without its finalizer having run", func() {
		manualSource(ns, "ledger", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "ledger")
		// As a cluster without the operator running would leave it: the
		// request removed by force, its finalizer cleared by hand.
		Eventually(func() error {
			cur := &privacyv1alpha1.PrivacyRequest{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
				return err
			}
			cur.Finalizers = nil
			return k8sClient.Update(ctx, cur)
		}).Should(Succeed())
		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
		Eventually(taskGone(task)).Should(BeTrue())
	})

	It("gives a request whose name is too long for a label value its task", func() {
		manualSource(ns, "ledger", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		pr.GenerateName = ""
		pr.Name = "optout-" + strings.Repeat("0123456789", 7)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "ledger")
		Expect(task.Labels).NotTo(HaveKey(privacyv1alpha1.LabelTaskRequest), "a label value holds 63 characters at most")
		complete(task, privacyv1alpha1.TaskResultCompleted, 1, "Unsubscribed in the vendor console")
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})

	It("takes no outcome from a task it did not make for the job, and makes its own once that one is gone", func() {
		ds := manualSource(ns, "console", "email")
		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = true })
		// The operator has seen the suspension (its cache is the request
		// engine's too) before the request exists: no job goes out, no
		// task is made before the planted one.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			c := condition(ds.Status.Conditions, privacyv1alpha1.ConditionSuspended)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(HaveLen(1))
		}).Should(Succeed())
		// Someone with create rights plants a completed task under the job's name.
		planted := &privacyv1alpha1.PrivacyTask{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pr.Status.Sources[0].JobID},
			Spec: privacyv1alpha1.PrivacyTaskSpec{
				Request:    privacyv1alpha1.TaskRequestReference{Kind: "PrivacyRequest", Name: pr.Name, UID: string(pr.UID)},
				DataSource: "elsewhere", JobID: "bogus", Type: privacyv1alpha1.RequestTypeAccess,
				Outcome: &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultNotFound, CompletedBy: "mallory", CompletedAt: metav1.Now()},
			},
		}
		Expect(k8sClient.Create(ctx, planted)).To(Succeed())
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds); err != nil {
				return err
			}
			ds.Spec.Suspend = false
			return k8sClient.Update(ctx, ds)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			c := onlySourceCondition(g, pr, privacyv1alpha1.SourceConditionDispatched)
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonTaskError))
			g.Expect(c.Message).To(ContainSubstring("was not made for this job"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.CompletedAt).To(BeNil())
		}, time.Second).Should(Succeed())

		Expect(k8sClient.Delete(ctx, planted)).To(Succeed())
		task := &privacyv1alpha1.PrivacyTask{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(planted), task)).To(Succeed())
			g.Expect(task.Spec.JobID).To(Equal(planted.Name))
		}).Should(Succeed())
		complete(task, privacyv1alpha1.TaskResultCompleted, 1, "Account closed")
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(sourceEntry(pr, "console").CompletedBy).To(Equal("records-clerk"))
	})

	It("marks the task of a request that ended without it moot: no reminder, not counted open", func() {
		manualSource(ns, "fax-desk", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.Deadline = &metav1.Time{Time: fakeClock.Now().Add(3 * time.Second)}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "fax-desk")
		Expect(task.Spec.SLADueAt.Time).To(BeTemporally("<=", pr.Status.DueAt.Time), "the SLA never runs past the due date")
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			c := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonRequestFinished))
			g.Expect(condition(task.Status.Conditions, privacyv1alpha1.TaskConditionLate)).To(BeNil())
			for _, state := range []string{privacyv1alpha1.ReasonOnTime, privacyv1alpha1.ReasonPastHalfSLA, privacyv1alpha1.ReasonPastSLA, privacyv1alpha1.ReasonPastDueDate} {
				g.Expect(openTasksGauge(ns, state)).To(BeZero(), state)
			}
		}).Should(Succeed())
	})

	It("never writes a manual task's identities or corrections into logs, Events, conditions or receipts", func() {
		manualSource(ns, "paper-archive", "email", "userId")
		// Values long enough that no timestamp, port or hash in a whole
		// suite's logs holds them by chance.
		person := map[string]string{"email": "grace.hopper.manual@example.com", "userId": "uid-grace-manual-1906"}
		pr := request(ns, privacyv1alpha1.RequestTypeCorrect, person)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "paper-archive")
		Expect(task.Spec.Corrections).To(Equal([]privacyv1alpha1.Correction{{Field: "email", Value: "ada.lovelace@example.com"}}))
		complete(task, privacyv1alpha1.TaskResultCompleted, 1, "Index card updated")
		pr = withReceipt(finished(pr))

		statusJSON, err := json.Marshal(pr.Status)
		Expect(err).NotTo(HaveOccurred())
		events, err := env.Kubectl("get", "events", "-A", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(ContainSubstring(pr.Name))
		taskStatus, err := json.Marshal(task.Status)
		Expect(err).NotTo(HaveOccurred())
		stored := readReceipt(pr.Status.Receipt)
		receiptJSON, err := json.Marshal(stored)
		Expect(err).NotTo(HaveOccurred())
		for _, s := range []string{person["email"], person["userId"], "ada.lovelace@example.com"} {
			Expect(string(logs.Bytes())).NotTo(ContainSubstring(s), "logs")
			Expect(events).NotTo(ContainSubstring(s), "Events")
			Expect(string(statusJSON)).NotTo(ContainSubstring(s), "request status")
			Expect(string(taskStatus)).NotTo(ContainSubstring(s), "task status")
			Expect(string(receiptJSON)).NotTo(ContainSubstring(s), "receipt")
		}
	})
})

// The reminders move the operator's clock: Serial.
var _ = Describe("Manual task reminders", Serial, func() {
	It("raises an Event and the gauge for a task open past half of its SLA, then past it", func() {
		ns := newNamespace()
		manualSource(ns, "paper-archive", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "paper-archive")
		DeferCleanup(fakeClock.Reset)

		late := func(reason string, at time.Time) {
			GinkgoHelper()
			fakeClock.SetTime(at)
			Eventually(func(g Gomega) {
				// A label change wakes the task at the moved clock (its
				// own wake-up is days away in real time).
				cur := &privacyv1alpha1.PrivacyTask{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), cur)).To(Succeed())
				if cur.Labels["nudge"] != reason {
					cur.Labels["nudge"] = reason
					g.Expect(k8sClient.Update(ctx, cur)).To(Succeed())
				}
				c := condition(cur.Status.Conditions, privacyv1alpha1.TaskConditionLate)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(eventReasons(g, ns, func(e corev1.Event) bool { return e.InvolvedObject.Name == task.Name })).To(ContainElement(reason), dumpEvents(ns))
				g.Expect(openTasksGauge(ns, reason)).To(Equal(1.0))
			}).Should(Succeed())
		}
		created := task.CreationTimestamp.Time
		late(privacyv1alpha1.ReasonPastHalfSLA, created.Add(4*24*time.Hour+time.Minute))
		Expect(openTasksGauge(ns, privacyv1alpha1.ReasonOnTime)).To(BeZero())
		late(privacyv1alpha1.ReasonPastSLA, created.Add(8*24*time.Hour+time.Minute))
		Expect(openTasksGauge(ns, privacyv1alpha1.ReasonPastHalfSLA)).To(BeZero())

		fakeClock.Reset()
		complete(task, privacyv1alpha1.TaskResultNotFound, 0, "")
		Eventually(func() float64 { return openTasksGauge(ns, privacyv1alpha1.ReasonPastSLA) }).Should(BeZero())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})
})

// openTasksGauge reads privacyoperator_tasks_open{namespace, state} from the
// operator's metrics registry.
func openTasksGauge(ns, state string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "privacyoperator_tasks_open" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsAre(m, map[string]string{"namespace": ns, "state": state}) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labelsAre(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func dumpEvents(ns string) string {
	evs := &corev1.EventList{}
	_ = k8sClient.List(ctx, evs, client.InNamespace(ns))
	b, _ := json.Marshal(evs.Items)
	return string(b)
}

var _ = DescribeTable("Lateness of an open task",
	func(sinceCreation time.Duration, withDue bool, reason string, next time.Duration) {
		created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		sla := metav1.NewTime(created.Add(8 * 24 * time.Hour))
		task := &privacyv1alpha1.PrivacyTask{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
		task.Spec.SLADueAt = &sla
		if withDue {
			due := metav1.NewTime(created.Add(6 * 24 * time.Hour))
			task.Spec.DueAt = &due
		}
		got, _, at := controllers.Lateness(task, created.Add(sinceCreation))
		Expect(got).To(Equal(reason))
		if next == 0 {
			Expect(at).To(BeZero())
		} else {
			Expect(at).To(Equal(created.Add(next)))
		}
	},
	Entry("new", time.Hour, false, privacyv1alpha1.ReasonOnTime, 4*24*time.Hour),
	Entry("past half", 5*24*time.Hour, false, privacyv1alpha1.ReasonPastHalfSLA, 8*24*time.Hour),
	Entry("past the SLA", 9*24*time.Hour, false, privacyv1alpha1.ReasonPastSLA, time.Duration(0)),
	Entry("past half, due before the SLA ends", 5*24*time.Hour, true, privacyv1alpha1.ReasonPastHalfSLA, 6*24*time.Hour),
	Entry("past the due date", 7*24*time.Hour, true, privacyv1alpha1.ReasonPastDueDate, time.Duration(0)),
)
