package crd_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The operator's own identity at a real API server: the ServiceAccount
// config/default installs, with a real token, bound to the operator's own
// ClusterRole (config/rbac/role.yaml). RBAC lets it update PrivacyRequests
// (that is how finalizers change); the privacyrequest-operator policy lets
// it change nothing else, so its token cannot approve.
var _ = Describe("The operator's ServiceAccount", Ordered, func() {
	const saName = "privacy-operator-controller-manager"
	var operator client.Client

	BeforeAll(func() {
		applyAdmission()
		out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: saName}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, sa))).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "operator-policy-test-manager"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "manager-role"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNamespace, Name: saName}},
		}))).To(Succeed())
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
		Expect(k8sClient.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
		cfg := rest.AnonymousClientConfig(env.Config)
		cfg.BearerToken = tr.Status.Token
		operator, err = client.New(cfg, client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())
	})

	// suspended creates a request as a person would, waiting for review.
	suspended := func() *privacyv1alpha1.PrivacyRequest {
		pr := &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "operator-policy-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type:    privacyv1alpha1.RequestTypeDelete,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
				Suspend: true,
			},
		}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		return pr
	}
	// asOperator applies change to a fresh copy and updates it with the
	// operator's token.
	asOperator := func(pr *privacyv1alpha1.PrivacyRequest, change func(*privacyv1alpha1.PrivacyRequest)) error {
		cur := &privacyv1alpha1.PrivacyRequest{}
		if err := operator.Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
			return err
		}
		change(cur)
		return operator.Update(ctx, cur)
	}
	approveAsOperator := func(cur *privacyv1alpha1.PrivacyRequest) {
		cur.Spec.Suspend = false
		cur.Spec.Approval = &privacyv1alpha1.Approval{
			Approver: "system:serviceaccount:" + operatorNamespace + ":" + saName, Reason: "stolen token", ApprovedAt: metav1.Now(),
		}
	}

	It("cannot approve a suspended request, or change its spec, labels or annotations", func() {
		pr := suspended()
		// The policy comes into force on its own schedule: wait for the
		// first refusal with its name.
		Eventually(func() error {
			return asOperator(pr, approveAsOperator)
		}).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("may change only the finalizers of PrivacyRequest " + pr.Name + ", not its spec")))

		// Changes a person may make (the approval policy lets them) are
		// still refused to the operator.
		Expect(asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) { cur.Spec.TTLSecondsAfterFinished = ptr.To[int32](60) })).
			To(MatchError(ContainSubstring("admission policy privacyrequest-operator")))
		Expect(asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) { cur.Spec.Regulation = privacyv1alpha1.RegulationCCPA })).
			To(MatchError(ContainSubstring("not its spec")))
		Expect(asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) {
			cur.Labels = map[string]string{"approved": "yes"}
		})).To(MatchError(ContainSubstring("not its labels, annotations or owners")))
		Expect(asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) {
			cur.Annotations = map[string]string{"note": "x"}
		})).To(MatchError(ContainSubstring("not its labels, annotations or owners")))

		cur := &privacyv1alpha1.PrivacyRequest{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		Expect(cur.Spec.Suspend).To(BeTrue(), "the request still waits for a person's approval")
		Expect(cur.Spec.Approval).To(BeNil())
	})

	It("adds and removes its finalizer and writes status", func() {
		pr := suspended()
		finalizer := privacyv1alpha1.FinalizerCancelJobs
		Eventually(func() error {
			return asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) { controllerutil.AddFinalizer(cur, finalizer) })
		}).WithTimeout(30 * time.Second).Should(Succeed())

		cur := &privacyv1alpha1.PrivacyRequest{}
		Expect(operator.Get(ctx, client.ObjectKeyFromObject(pr), cur)).To(Succeed())
		Expect(cur.Finalizers).To(ContainElement(finalizer))
		cur.Status.ObservedGeneration = cur.Generation
		Expect(operator.Status().Update(ctx, cur)).To(Succeed(), "status goes through the subresource, which the policy leaves alone")

		Expect(asOperator(pr, func(cur *privacyv1alpha1.PrivacyRequest) { controllerutil.RemoveFinalizer(cur, finalizer) })).To(Succeed())
	})

	It("cannot create a PrivacyRequest", func() {
		// RBAC refuses it already; the policy would too.
		err := operator.Create(ctx, &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "operator-policy-"},
			Spec: privacyv1alpha1.PrivacyRequestSpec{
				Type:    privacyv1alpha1.RequestTypeDelete,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
			},
		})
		Expect(err).To(HaveOccurred())
	})
})
