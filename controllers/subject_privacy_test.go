package controllers_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// fixedFingerprints opens the fingerprints the operator sealed into pr's
// status, as only the operator (or a holder of the fingerprint key) can.
func fixedFingerprints(pr *privacyv1alpha1.PrivacyRequest, key []byte) []receipt.IdentityFingerprint {
	GinkgoHelper()
	Expect(pr.Status.Subject).NotTo(BeNil(), "the subject is not fixed yet")
	fps, err := receipt.OpenFingerprints(key, string(pr.UID), pr.Status.Subject.SealedFingerprints)
	Expect(err).NotTo(HaveOccurred())
	return fps
}

var _ = Describe("What readers of a request can learn of its subject", func() {
	It("shows a reviewer the identity types of a suspended request, never a fingerprint anyone could compare with a guess", func() {
		ns := newNamespace()
		newSource(ns, "crm")
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "oracle-" + ns, Namespace: subjectNamespace, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: map[string]string{"email": adaEmail, "userId": "1815"},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		byRef := request(ns, privacyv1alpha1.RequestTypeDelete, nil)
		byRef.Spec.Suspend = true
		byRef.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjectNamespace, Name: secret.Name}}
		guess := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		guess.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, byRef)).To(Succeed())
		Expect(k8sClient.Create(ctx, guess)).To(Succeed())

		for _, pr := range []*privacyv1alpha1.PrivacyRequest{byRef, guess} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
				g.Expect(pr.Status.Subject).NotTo(BeNil())
			}).Should(Succeed(), "the subject is fixed while the request waits for its approval")
			Expect(pr.Status.Subject.IdentityTypes).To(Equal([]string{"email", "userId"}), "what a reviewer checks: which identities, how many")
			Expect(pr.Status.Subject.FixedAt.IsZero()).To(BeFalse())
		}

		key := fingerprintKey()
		Expect(byRef.Status.Subject.SealedFingerprints).NotTo(Equal(guess.Status.Subject.SealedFingerprints),
			"two requests about the same person must not show the same value: a requester would link a secretRef request to a guess")
		for _, pr := range []*privacyv1alpha1.PrivacyRequest{byRef, guess} {
			status, err := json.Marshal(pr.Status)
			Expect(err).NotTo(HaveOccurred())
			for typ, value := range ada {
				Expect(string(status)).NotTo(ContainSubstring(receipt.Fingerprint(key, typ, value)),
					"status holds the %s fingerprint a LegalHold or a receipt names", typ)
				Expect(string(status)).NotTo(ContainSubstring(value))
			}
			Expect(fixedFingerprints(pr, key)).To(Equal(receipt.Fingerprints(key, ada)), "the operator still knows whom it fixed")
		}
	})

	It("sends, fingerprints and holds one spelling of an identity, whatever spelling the request used", func() {
		ns := newNamespace()
		billing := newSource(ns, "billing", labelled("team", "billing-"+ns))
		hold := legalHold("spelling-"+ns, privacyv1alpha1.LegalHoldScope{
			DataSourceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "billing-" + ns}},
			Subjects:           []string{receipt.Fingerprint(fingerprintKey(), "email", adaEmail)},
		}, time.Time{})
		Expect(k8sClient.Create(ctx, hold)).To(Succeed())
		crm := newSource(ns, "crm")

		// Mixed case and white space; full-width letters (NFKC folds them).
		spellings := []string{"  ADA@Example.COM\t", "ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ"}
		key := fingerprintKey()
		for _, spelling := range spellings {
			pr := request(ns, privacyv1alpha1.RequestTypeDelete, map[string]string{"email": spelling})
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			pr = withReceipt(finished(pr))
			Expect(sourceEntry(pr, "billing").Phase).To(Equal(privacyv1alpha1.SourcePhaseHeld), "the hold on ada@example.com holds %q", spelling)
			Expect(sourceEntry(pr, "billing").Hold).To(Equal(hold.Name))
			Expect(sourceEntry(pr, "crm").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
			doc := readReceipt(pr.Status.Receipt).Request
			Expect(doc.Subject.Fingerprints).To(Equal([]receipt.IdentityFingerprint{{Type: "email", Value: receipt.Fingerprint(key, "email", adaEmail)}}),
				"the receipt's fingerprint is that of the value sources received")
		}
		Expect(billing.jobs()).To(BeEmpty())
		Expect(crm.jobs()).To(HaveLen(len(spellings)))
		for _, j := range crm.jobs() {
			Expect(j.Subject.Identities).To(Equal(map[string]string{"email": adaEmail}), "sources receive the one spelling")
			Expect(strings.TrimSpace(j.Subject.Identities["email"])).To(Equal(j.Subject.Identities["email"]))
		}
	})
})
