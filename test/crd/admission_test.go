package crd_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

var _ = Describe("PrivacyRequest immutability", func() {
	var pr *privacyv1alpha1.PrivacyRequest
	BeforeEach(func() {
		pr = minimalRequest(privacyv1alpha1.RequestTypeAccess)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
	})

	It("refuses a change of type", func() {
		pr.Spec.Type = privacyv1alpha1.RequestTypeDelete
		err := k8sClient.Update(ctx, pr)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("type is immutable: create a new PrivacyRequest instead"))
	})

	It("refuses a change of subject", func() {
		pr.Spec.Subject.Identities = map[string]string{"email": "someone.else@example.com"}
		err := k8sClient.Update(ctx, pr)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("subject is immutable: create a new PrivacyRequest instead"))
		// The refusal must not echo the person's identities back.
		Expect(err.Error()).NotTo(ContainSubstring("ada@example.com"))
		Expect(err.Error()).NotTo(ContainSubstring("someone.else@example.com"))
	})

	It("refuses adding, changing or removing receivedAt", func() {
		received := metav1.NewTime(time.Now().Add(-48 * time.Hour).Truncate(time.Second))
		added := pr.DeepCopy()
		added.Spec.ReceivedAt = &received
		Expect(k8sClient.Update(ctx, added)).To(MatchError(ContainSubstring("receivedAt is set when the request is created")))

		withDate := minimalRequest(privacyv1alpha1.RequestTypeAccess)
		withDate.Spec.ReceivedAt = &received
		Expect(k8sClient.Create(ctx, withDate)).To(Succeed())
		changed := withDate.DeepCopy()
		other := metav1.NewTime(received.Add(time.Hour))
		changed.Spec.ReceivedAt = &other
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("receivedAt is immutable")))
		removed := withDate.DeepCopy()
		removed.Spec.ReceivedAt = nil
		Expect(k8sClient.Update(ctx, removed)).To(MatchError(ContainSubstring("receivedAt is set when the request is created")))
	})

	It("allows changes to the mutable fields", func() {
		pr.Spec.Suspend = true
		pr.Spec.Extension = &privacyv1alpha1.Extension{Days: 30, Reason: "Identity verification pending."}
		Expect(k8sClient.Update(ctx, pr)).To(Succeed())
	})
})

var _ = Describe("Defaults", func() {
	It("fills a minimal DataSource", func() {
		ds := minimalDataSource(newNamespace())
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		Expect(ds.Spec.MaxConcurrency).To(Equal(int32(4)))
		Expect(ds.Spec.SigningSecretRef.Key).To(Equal("signingSecret"))
		Expect(ds.Spec.Endpoint.Service.Scheme).To(Equal("https"))
		Expect(ds.Spec.Endpoint.Timeout).To(Equal(&metav1.Duration{Duration: 30 * time.Second}))
		Expect(ds.Spec.Retry.MaxAttempts).To(Equal(int32(5)))
		Expect(ds.Spec.Retry.InitialBackoff).To(Equal(&metav1.Duration{Duration: 10 * time.Second}))
		Expect(ds.Spec.Retry.MaxBackoff).To(Equal(&metav1.Duration{Duration: 10 * time.Minute}))
	})

	It("fills a minimal PrivacyRequest", func() {
		pr := minimalRequest(privacyv1alpha1.RequestTypeAccess)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(pr.Spec.Regulation).To(Equal(privacyv1alpha1.RegulationGDPR))
	})

	It("fills the opt-out scope", func() {
		pr := minimalRequest(privacyv1alpha1.RequestTypeOptOut)
		pr.Spec.OptOut = &privacyv1alpha1.OptOutSpec{}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(pr.Spec.OptOut.Scopes).To(Equal([]string{privacyv1alpha1.DefaultOptOutScope}))
	})

	It("fills a minimal RetentionPolicy", func() {
		rp := minimalPolicy()
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		Expect(rp.Spec.Action).To(Equal(privacyv1alpha1.RetentionActionDelete))
		Expect(rp.Spec.HistoryLimit).To(Equal(int32(10)))
	})
})
