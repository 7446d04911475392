package crd_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The privacytask-completion policy and the privacy-task-worker role of
// config/, enforced by the real API server: carol works the archive's
// tasks; dave has no role there.
var _ = Describe("Completing a PrivacyTask", Ordered, func() {
	var carol, dave client.Client
	var ns string

	userClient := func(name string) client.Client {
		user, err := env.AddUser(envtest.User{Name: name}, nil)
		Expect(err).NotTo(HaveOccurred())
		c, err := client.New(user.Config(), client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		return c
	}
	// newTask is a task as the operator creates it (the admin is the operator here).
	newTask := func() *privacyv1alpha1.PrivacyTask {
		due := metav1.NewTime(time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second))
		t := &privacyv1alpha1.PrivacyTask{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pr-", Namespace: ns},
			Spec: privacyv1alpha1.PrivacyTaskSpec{
				Request:    privacyv1alpha1.TaskRequestReference{Kind: "PrivacyRequest", Name: "req-1", UID: "0b6e1d6c-0000-4000-8000-000000000001"},
				DataSource: "paper-archive", JobID: "pr-1", Type: privacyv1alpha1.RequestTypeDelete,
				DueAt: &due, Instructions: "Shred it.", Identities: map[string]string{"email": "ada@example.com"},
			},
		}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		return t
	}
	outcome := func(by string) *privacyv1alpha1.TaskOutcome {
		return &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultCompleted, Records: ptr.To[int64](2), Note: "two folders shredded", CompletedBy: by, CompletedAt: metav1.Now()}
	}
	completeAs := func(c client.Client, t *privacyv1alpha1.PrivacyTask, o *privacyv1alpha1.TaskOutcome, opts ...client.UpdateOption) error {
		cur := &privacyv1alpha1.PrivacyTask{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(t), cur); err != nil {
			return err
		}
		cur.Spec.Outcome = o
		return c.Update(ctx, cur, opts...)
	}

	BeforeAll(func() {
		ns = newNamespace()
		applyAdmission()
		out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "privacy_task_worker_role.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "records-office", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "privacy-task-worker"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}},
		})).To(Succeed())
		carol, dave = userClient("carol"), userClient("dave")
		// In force once a completion in another's name is refused.
		probe := newTask()
		Eventually(func() error { return completeAs(carol, probe, outcome("erin"), client.DryRunAll) }).
			WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("privacytask-completion")))
	})

	It("refuses a completion in another user's name, and records the user's own", func() {
		t := newTask()
		err := completeAs(carol, t, outcome("dave"))
		Expect(err).To(MatchError(ContainSubstring("spec.outcome.completedBy must be the user completing the task (carol), not dave")))
		Expect(completeAs(carol, t, outcome("carol"))).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		Expect(t.Spec.Outcome.CompletedBy).To(Equal("carol"))
	})

	It("refuses a second completion, a changed outcome and a removed one, even by the same user or an admin", func() {
		t := newTask()
		Expect(completeAs(carol, t, outcome("carol"))).To(Succeed())
		again := outcome("carol")
		again.Result, again.Exemption = privacyv1alpha1.TaskResultRefused, "GDPR Art. 17(3)(b)"
		// The CRD refuses it before the policy (which names who completed it) runs.
		Expect(completeAs(carol, t, again)).To(MatchError(ContainSubstring("a task is completed once")))
		Expect(completeAs(k8sClient, t, nil)).To(MatchError(ContainSubstring("outcome cannot be removed")))
	})

	It("refuses a Refused outcome without its exemption, and an exemption on another outcome", func() {
		t := newTask()
		refused := outcome("carol")
		refused.Result = privacyv1alpha1.TaskResultRefused
		Expect(completeAs(carol, t, refused)).To(MatchError(ContainSubstring("a Refused outcome names its basis in exemption")))
		failed := outcome("carol")
		failed.Result, failed.Exemption = privacyv1alpha1.TaskResultFailed, "GDPR Art. 17(3)(b)"
		Expect(completeAs(carol, t, failed)).To(MatchError(ContainSubstring("exemption is only for a Refused outcome")))
		refused.Exemption = "GDPR Art. 17(3)(b)"
		Expect(completeAs(carol, t, refused)).To(Succeed())
	})

	It("refuses any change to the job besides the outcome, and a task created completed", func() {
		t := newTask()
		cur := &privacyv1alpha1.PrivacyTask{}
		Expect(carol.Get(ctx, client.ObjectKeyFromObject(t), cur)).To(Succeed())
		cur.Spec.Identities = map[string]string{"email": "grace@example.com"}
		cur.Spec.Outcome = outcome("carol")
		Expect(carol.Update(ctx, cur)).To(MatchError(ContainSubstring("only spec.outcome of a PrivacyTask may be set")))

		done := &privacyv1alpha1.PrivacyTask{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pr-", Namespace: ns},
			Spec:       *t.Spec.DeepCopy(),
		}
		done.Spec.Outcome = outcome("admin")
		Expect(k8sClient.Create(ctx, done)).To(MatchError(ContainSubstring("created by the operator without an outcome")))
	})

	It("lets only holders of privacy-task-worker in the namespace read or complete tasks", func() {
		t := newTask()
		err := dave.Get(ctx, client.ObjectKeyFromObject(t), &privacyv1alpha1.PrivacyTask{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "dave has no role: %v", err)
		Expect(apierrors.IsForbidden(dave.List(ctx, &privacyv1alpha1.PrivacyTaskList{}, client.InNamespace(ns)))).To(BeTrue())
		Expect(apierrors.IsForbidden(completeAs(dave, t, outcome("dave")))).To(BeTrue())
		other := newNamespace()
		Expect(apierrors.IsForbidden(carol.List(ctx, &privacyv1alpha1.PrivacyTaskList{}, client.InNamespace(other)))).To(BeTrue(),
			"the role is bound in one namespace only")
		Expect(apierrors.IsForbidden(carol.Create(ctx, &privacyv1alpha1.PrivacyTask{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pr-", Namespace: ns}, Spec: t.Spec,
		}))).To(BeTrue(), "workers do not create tasks")
		Expect(apierrors.IsForbidden(carol.Delete(ctx, t))).To(BeTrue(), "workers do not delete tasks")
	})

	It("keeps a task's finalizers, labels and owners as the operator made them, and a moot task uncompleted", func() {
		t := newTask()
		cur := &privacyv1alpha1.PrivacyTask{}
		Expect(carol.Get(ctx, client.ObjectKeyFromObject(t), cur)).To(Succeed())
		cur.Finalizers = []string{"example.com/keep-forever"}
		Expect(carol.Update(ctx, cur)).To(MatchError(ContainSubstring("finalizers (none may be added)")))
		Expect(carol.Get(ctx, client.ObjectKeyFromObject(t), cur)).To(Succeed())
		cur.Labels = map[string]string{privacyv1alpha1.LabelTaskRequest: "another"}
		Expect(carol.Update(ctx, cur)).To(MatchError(ContainSubstring("labels and owner references stay")))

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		t.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.TaskConditionCompleted, Status: metav1.ConditionFalse,
			Reason: privacyv1alpha1.ReasonRequestFinished, Message: "-", LastTransitionTime: metav1.Now()}}
		Expect(k8sClient.Status().Update(ctx, t)).To(Succeed())
		Expect(completeAs(carol, t, outcome("carol"))).To(MatchError(ContainSubstring("can no longer be completed: its request finished without it")))

		// A LegalHold filed while the task was open: its job must not be
		// carried out, so the task cannot be completed either.
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		t.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.TaskConditionCompleted, Status: metav1.ConditionFalse,
			Reason: privacyv1alpha1.ReasonLegalHold, Message: "LegalHold matter-7 now covers this job: do not carry it out.", LastTransitionTime: metav1.Now()}}
		Expect(k8sClient.Status().Update(ctx, t)).To(Succeed())
		Expect(completeAs(carol, t, outcome("carol"))).To(MatchError(ContainSubstring("can no longer be completed: a LegalHold now covers its job")))
	})
})
