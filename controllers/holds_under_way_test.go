package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// workingDelete makes a source's Delete asynchronous and keeps it running
// until release is closed (or, when obeyCancel, until the operator cancels
// it), so that a hold can be filed while the source works on it.
func workingDelete(release <-chan struct{}, obeyCancel bool) sourceOption {
	return func(s *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
		cfg.AsyncTypes = []protocol.JobType{protocol.JobDelete}
		cfg.Delete = func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
			s.mu.Lock()
			s.runs[job.ID]++
			s.received = append(s.received, *job)
			s.mu.Unlock()
			done := ctx.Done()
			if !obeyCancel {
				done = nil
			}
			select {
			case <-release:
				return datasource.Result{Records: 3}, nil
			case <-done:
				return datasource.Result{}, ctx.Err()
			}
		}
	}
}

// dispatchedEntry waits until the request's entry for source is at the
// source (accepted, or a task assigned).
func dispatchedEntry(pr *privacyv1alpha1.PrivacyRequest, source string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		g.Expect(pr.Status.Sources).To(ContainElement(And(HaveField("Name", source), HaveField("Phase", privacyv1alpha1.SourcePhaseDispatched))))
	}).Should(Succeed())
}

var _ = Describe("A LegalHold filed while a Delete is under way", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	bySubject := func(name string) *privacyv1alpha1.LegalHold {
		h := legalHold(name, privacyv1alpha1.LegalHoldScope{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			Subjects:          []string{receipt.Fingerprint(fingerprintKey(), "email", adaEmail)},
		}, time.Time{})
		Expect(k8sClient.Create(ctx, h)).To(Succeed())
		return h
	}

	It("makes an open PrivacyTask moot and ends the source Held, naming the hold", func() {
		manualSource(ns, "archive", "email")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		task := taskOf(pr, "archive")

		hold := bySubject("matter-" + ns)
		// Before the request's grace period ends and the task goes.
		By("telling the clerk why the task is not to be done")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(task), task)).To(Succeed())
			c := condition(task.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonLegalHold), "not RequestFinished: the hold is why")
			g.Expect(c.Message).To(HavePrefix("LegalHold " + hold.Name + " now covers this job: do not carry it out"))
			g.Expect(condition(task.Status.Conditions, privacyv1alpha1.TaskConditionLate)).To(BeNil())
		}).Should(Succeed())

		pr = withReceipt(finished(pr))
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(sourceEntry(pr, "archive").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(sourceEntry(pr, "archive").Hold).To(Equal(hold.Name))
		Expect(sourceEntry(pr, "archive").Message).To(ContainSubstring("The PrivacyTask of this job is moot"))
		Expect(pr.Status.HeldBy).To(ConsistOf(hold.Name))
		doc := readReceipt(pr.Status.Receipt).Request
		Expect(doc.Sources).To(ConsistOf(And(HaveField("Name", "archive"), HaveField("Outcome", receipt.OutcomeHeld), HaveField("Hold", hold.Name))))

	})

	It("cancels a job a source accepted and works on: a source that cancels it ends Held", func() {
		release := make(chan struct{})
		DeferCleanup(func() { close(release) })
		crm := newSource(ns, "crm", workingDelete(release, true))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		dispatchedEntry(pr, "crm")
		jobID := sourceEntry(pr, "crm").JobID

		hold := bySubject("matter-" + ns)
		Eventually(crm.httpRequests).Should(ContainElement("DELETE /jobs/"+jobID), "the protocol's cancel")
		pr = withReceipt(finished(pr))
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld))
		Expect(sourceEntry(pr, "crm").Hold).To(Equal(hold.Name))
		Expect(pr.Status.HeldBy).To(ConsistOf(hold.Name))
		doc := readReceipt(pr.Status.Receipt).Request
		Expect(doc.Sources).To(ConsistOf(And(HaveField("Outcome", receipt.OutcomeHeld), HaveField("Hold", hold.Name))))
		Expect(crm.jobRuns()).To(Equal(map[string]int{jobID: 1}), "the job was not delivered again past the hold")
	})

	It("lets a source that already finished end as it finished, the hold named as too late", func() {
		release := make(chan struct{})
		crm := newSource(ns, "crm", workingDelete(release, false))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		dispatchedEntry(pr, "crm")
		jobID := sourceEntry(pr, "crm").JobID

		hold := bySubject("matter-" + ns)
		Eventually(crm.httpRequests).Should(ContainElement("DELETE /jobs/" + jobID))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			c := condition(sourceEntry(pr, "crm").Conditions, privacyv1alpha1.SourceConditionDispatched)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonCancelRequested))
		}).Should(Succeed())
		close(release) // the source ignored the cancel and finished

		pr = withReceipt(finished(pr))
		Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		Expect(sourceEntry(pr, "crm").Message).To(ContainSubstring("The source finished the job before LegalHold " + hold.Name + " stopped it"))
		Expect(pr.Status.HeldBy).To(BeEmpty())
		doc := readReceipt(pr.Status.Receipt).Request
		Expect(doc.Sources).To(ConsistOf(And(HaveField("Outcome", receipt.OutcomeCompleted), HaveField("Hold", hold.Name))),
			"the receipt says the hold came too late")
	})
})
