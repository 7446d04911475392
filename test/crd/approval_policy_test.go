package crd_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// operatorNamespace is where config/admission keeps the approval policy's
// parameter (config/default and the chart put it in the operator's
// namespace).
const operatorNamespace = "privacy-operator-system"

// applyAdmission installs config/admission as a platform team would.
func applyAdmission() {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if err := k8sClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	out, err := env.Kubectl("apply", "--server-side", "-k", filepath.Join(testenv.RepoRoot(), "config", "admission"))
	Expect(err).NotTo(HaveOccurred(), out)
	// Every spec may run next: wait until the requester stamp is in
	// force, so that no suspended create meets the four-eyes rule alone.
	Eventually(func(g Gomega) {
		probe := &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type: privacyv1alpha1.RequestTypeOptOut, Suspend: true,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "probe@example.com"}},
			},
		}
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(probe.Spec.Requester).NotTo(BeEmpty())
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// The approval policy of config/admission, enforced by the real API server
// for two real users: alice files requests, bob reviews them.
var _ = Describe("Approving a suspended request", Ordered, func() {
	var alice, bob client.Client

	userClient := func(name string) client.Client {
		user, err := env.AddUser(envtest.User{Name: name}, nil)
		Expect(err).NotTo(HaveOccurred())
		c, err := client.New(user.Config(), client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		return c
	}
	setFourEyes := func(on bool) {
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "approval-policy"}, cm)).To(Succeed())
		cm.Data["fourEyes"] = fmt.Sprint(on)
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	}
	newRequest := func(requester string) *privacyv1alpha1.PrivacyRequest {
		return &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "approval-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type:      privacyv1alpha1.RequestTypeDelete,
				Subject:   privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
				Suspend:   true,
				Requester: requester,
			},
		}
	}
	// approve clears suspend and records the approval as who in one update.
	approve := func(c client.Client, pr *privacyv1alpha1.PrivacyRequest, approver string) error {
		cur := &privacyv1alpha1.PrivacyRequest{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
			return err
		}
		cur.Spec.Suspend = false
		cur.Spec.Approval = &privacyv1alpha1.Approval{Approver: approver, Reason: "identity verified", ApprovedAt: metav1.Now()}
		return c.Update(ctx, cur)
	}

	BeforeAll(func() {
		applyAdmission()
		out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "privacy_requester_role.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)
		for _, u := range []string{"alice", "bob"} {
			Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "privacy-desk-" + u},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "privacy-requester"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u}},
			})).To(Succeed())
		}
		alice, bob = userClient("alice"), userClient("bob")
		setFourEyes(true)
		// The policies are in force once a create in another's name fails
		// and a create without a requester is stamped.
		Eventually(func(g Gomega) {
			err := alice.Create(ctx, newRequest("bob"), client.DryRunAll)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("spec.requester must be the user creating the request (alice)"))
			probe := newRequest("")
			g.Expect(alice.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Spec.Requester).To(Equal("alice"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		// The four-eyes policy comes into force on its own schedule: a dry
		// run of alice approving her own request must be refused first.
		probe := newRequest("")
		Expect(alice.Create(ctx, probe)).To(Succeed())
		Eventually(func() error {
			cur := &privacyv1alpha1.PrivacyRequest{}
			if err := alice.Get(ctx, client.ObjectKeyFromObject(probe), cur); err != nil {
				return err
			}
			cur.Spec.Suspend = false
			cur.Spec.Approval = &privacyv1alpha1.Approval{Approver: "alice", Reason: "probe", ApprovedAt: metav1.Now()}
			return alice.Update(ctx, cur, client.DryRunAll)
		}).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("four-eyes")))
	})

	It("refuses a requester approving their own request under four-eyes, admits another reviewer", func() {
		By("stamping the requester on create")
		pr := newRequest("")
		Expect(alice.Create(ctx, pr)).To(Succeed())
		Expect(pr.Spec.Requester).To(Equal("alice"), "the requester policy names the creating user")

		By("refusing alice's approval of her own request")
		err := approve(alice, pr, "alice")
		Expect(err).To(MatchError(ContainSubstring("four-eyes approval is required: alice made this request and cannot approve it")))

		By("refusing an approval written in someone else's name")
		err = approve(alice, pr, "bob")
		Expect(err).To(MatchError(ContainSubstring("spec.approval.approver must be the user making the change (alice)")))

		By("refusing to clear suspend without an approval")
		cur := &privacyv1alpha1.PrivacyRequest{}
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.Suspend = false
		Expect(bob.Update(ctx, cur)).To(MatchError(ContainSubstring("clearing spec.suspend approves the request: set spec.approval (approver: bob")))

		By("admitting bob's approval, which names him")
		Expect(approve(bob, pr, "bob")).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		Expect(cur.Spec.Suspend).To(BeFalse())
		Expect(cur.Spec.Approval.Approver).To(Equal("bob"))
	})

	It("lets the requester approve when the parameter turns four-eyes off, still in their own name", func() {
		setFourEyes(false)
		DeferCleanup(setFourEyes, true)
		pr := newRequest("alice")
		Expect(alice.Create(ctx, pr)).To(Succeed())
		Eventually(func() error { return approve(alice, pr, "alice") }).WithTimeout(30 * time.Second).Should(Succeed())
		pr = newRequest("")
		Expect(alice.Create(ctx, pr)).To(Succeed())

		Expect(approve(alice, pr, "bob")).To(MatchError(ContainSubstring("spec.approval.approver must be the user making the change (alice)")))
	})

	It("keeps the record: the requester cannot be removed or changed, an approval cannot be rewritten", func() {
		pr := newRequest("")
		Expect(alice.Create(ctx, pr)).To(Succeed())
		cur := &privacyv1alpha1.PrivacyRequest{}
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.Requester = ""
		Expect(alice.Update(ctx, cur)).To(MatchError(ContainSubstring("requester is set when the request is created and cannot be added or removed later")))
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.Requester = "carol"
		Expect(alice.Update(ctx, cur)).To(MatchError(ContainSubstring("requester is immutable")))

		Expect(approve(bob, pr, "bob")).To(Succeed())
		Expect(bob.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.Approval.Reason = "changed my mind about why"
		Expect(bob.Update(ctx, cur)).To(MatchError(ContainSubstring("approval is immutable once given")))
	})

	It("gives an approval only by resuming, freezes what was approved, and keeps four-eyes unless the parameter says exactly false", func() {
		By("refusing an approval written at create")
		pr := newRequest("")
		pr.Spec.Suspend = false
		pr.Spec.Approval = &privacyv1alpha1.Approval{Approver: "alice", Reason: "self-service", ApprovedAt: metav1.Now()}
		Expect(alice.Create(ctx, pr)).To(MatchError(ContainSubstring("spec.approval is given by clearing spec.suspend of a suspended request")))

		By("refusing changes to what bob approved")
		pr = newRequest("")
		Expect(alice.Create(ctx, pr)).To(Succeed())
		Expect(approve(bob, pr, "bob")).To(Succeed())
		cur := &privacyv1alpha1.PrivacyRequest{}
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "everyone"}}
		Expect(alice.Update(ctx, cur)).To(MatchError(ContainSubstring("was approved as it is: only spec.suspend, spec.ttlSecondsAfterFinished, spec.deadline and spec.extension may change")))
		Expect(alice.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		cur.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
		cur.Spec.Extension = &privacyv1alpha1.Extension{Days: 30, Reason: "complex request"}
		Expect(alice.Update(ctx, cur)).To(Succeed(), "the TTL and the legal timeline may change")

		By("keeping four-eyes for a parameter value other than false")
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "approval-policy"}, cm)).To(Succeed())
		cm.Data["fourEyes"] = "False"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		DeferCleanup(setFourEyes, true)
		other := newRequest("")
		Expect(alice.Create(ctx, other)).To(Succeed())
		Consistently(func() error { return approve(alice, other, "alice") }, 2*time.Second, 200*time.Millisecond).
			Should(MatchError(ContainSubstring("four-eyes")))

		By("refusing an unsuspended create when every request needs an approval")
		cm.Data["requireApproval"] = "true"
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		cm.Data["requireApproval"] = "true"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		unsuspended := newRequest("")
		unsuspended.Spec.Suspend = false
		Eventually(func() error { return alice.Create(ctx, unsuspended.DeepCopy(), client.DryRunAll) }).WithTimeout(30 * time.Second).
			Should(MatchError(ContainSubstring("every PrivacyRequest needs an approval here")))
		Expect(alice.Create(ctx, newRequest(""), client.DryRunAll)).To(Succeed(), "a suspended one is admitted")

		By("never blocking the operator's finalizer updates, even without the parameter")
		Expect(k8sClient.Delete(ctx, cm)).To(Succeed())
		DeferCleanup(func() {
			restored := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "approval-policy"}, Data: map[string]string{"fourEyes": "true"}}
			Expect(k8sClient.Create(ctx, restored)).To(Succeed())
		})
		Consistently(func() error {
			cur := &privacyv1alpha1.PrivacyRequest{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(other), cur); err != nil {
				return err
			}
			cur.Finalizers = []string{"privacyoperator.io/test"}
			if err := k8sClient.Update(ctx, cur, client.DryRunAll); err != nil {
				return err
			}
			return k8sClient.Delete(ctx, cur, client.DryRunAll)
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})

// The receipt policy of config/admission: a finished request whose receipt
// is not stored yet cannot be deleted by a person.
var _ = Describe("Deleting a finished request", func() {
	It("waits for its receipt", func() {
		applyAdmission()
		pr := &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "receipt-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type:    privacyv1alpha1.RequestTypeOptOut,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
			},
		}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		By("letting an unfinished request be deleted (cancelled)")
		Expect(k8sClient.Delete(ctx, pr, client.DryRunAll)).To(Succeed())

		By("refusing to delete a finished request without status.receipt")
		now := metav1.Now()
		pr.Status.CompletedAt = &now
		pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
		Expect(k8sClient.Status().Update(ctx, pr)).To(Succeed())
		Eventually(func() error { return k8sClient.Delete(ctx, pr, client.DryRunAll) }).WithTimeout(30 * time.Second).
			Should(MatchError(ContainSubstring("finished but its receipt is not stored yet")))

		By("admitting it once the receipt is recorded")
		pr.Status.Receipt = &privacyv1alpha1.ReceiptReference{Location: "/receipts/1.json", SHA256: strings.Repeat("a", 64), Sequence: 1}
		Expect(k8sClient.Status().Update(ctx, pr)).To(Succeed())
		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
	})
})
