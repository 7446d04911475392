package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// labelled gives a source's DataSource a label, for hold selectors.
func labelled(key, value string) sourceOption {
	return func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
		s.labels = map[string]string{key: value}
	}
}

// legalHold is a hold named name over scope, expiring at expires (zero: never).
// categorised declares the source's categories of data.
func categorised(cats ...privacyv1alpha1.DataCategory) sourceOption {
	return func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) { spec.Categories = cats }
}

func legalHold(name string, scope privacyv1alpha1.LegalHoldScope, expires time.Time) *privacyv1alpha1.LegalHold {
	h := &privacyv1alpha1.LegalHold{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       privacyv1alpha1.LegalHoldSpec{Reason: "Matter " + name, Scope: scope},
	}
	if !expires.IsZero() {
		t := metav1.NewTime(expires)
		h.Spec.ExpiresAt = &t
	}
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, h) })
	return h
}

// storedReceipt reads the receipt status points at from the suite's
// directory store, checking the sha256 status recorded.
func storedReceipt(ref *privacyv1alpha1.ReceiptReference) []byte {
	GinkgoHelper()
	raw, err := os.ReadFile(ref.Location)
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(raw)
	Expect(hex.EncodeToString(sum[:])).To(Equal(ref.SHA256), "status.receipt.sha256 is the stored receipt's hash")
	return raw
}

// readReceipt is the receipt document status points at.
func readReceipt(ref *privacyv1alpha1.ReceiptReference) receipt.Receipt {
	GinkgoHelper()
	var stored struct {
		Receipt receipt.Receipt `json:"receipt"`
	}
	Expect(json.Unmarshal(storedReceipt(ref), &stored)).To(Succeed())
	return stored.Receipt
}

// fingerprintKey is the operator's fingerprint key, read from its Secret as
// a compliance officer holding it would.
func fingerprintKey() []byte {
	GinkgoHelper()
	key, err := receipt.ReadFingerprintKey(ctx, k8sClient, operatorNamespace)
	Expect(err).NotTo(HaveOccurred())
	return key
}

func withReceipt(pr *privacyv1alpha1.PrivacyRequest) *privacyv1alpha1.PrivacyRequest {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		g.Expect(pr.Status.Receipt).NotTo(BeNil())
	}).Should(Succeed())
	return pr
}

var _ = Describe("Receipts", Serial, func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("writes a signed, chained receipt of a finished request, with the approver and fingerprints, never the person", func() {
		src := newSource(ns, "crm")
		pr := request(ns, privacyv1alpha1.RequestTypeCorrect, ada)
		pr.Annotations = map[string]string{privacyv1alpha1.AnnotationChannel: "web-form"}
		pr.Spec.Requester = "alice"
		pr.Spec.Approval = &privacyv1alpha1.Approval{Approver: "bob", Reason: "identity verified", ApprovedAt: metav1.Now()}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = withReceipt(finished(pr))
		Expect(src.jobs()).To(HaveLen(1))

		raw := storedReceipt(pr.Status.Receipt)
		for _, personal := range []string{adaEmail, "1815", "ada.lovelace@example.com"} {
			Expect(string(raw)).NotTo(ContainSubstring(personal), "a receipt holds no identity or correction value")
		}
		doc := readReceipt(pr.Status.Receipt)
		Expect(doc.Kind).To(Equal(receipt.KindPrivacyRequest))
		Expect(doc.Sequence).To(BeNumerically("==", pr.Status.Receipt.Sequence))
		r := doc.Request
		Expect(r.Name).To(Equal(pr.Name))
		Expect(r.UID).To(Equal(string(pr.UID)))
		Expect(r.Type).To(Equal("Correct"))
		Expect(r.Regulation).To(Equal("GDPR"))
		Expect(r.Channel).To(Equal("web-form"))
		Expect(r.Requester).To(Equal("alice"))
		Expect(r.Approval).NotTo(BeNil())
		Expect(r.Approval.Approver).To(Equal("bob"), "the receipt names who approved")
		Expect(r.Outcome).To(Equal(receipt.OutcomeCompleted))
		Expect(r.FinishedAt).To(BeTemporally("==", pr.Status.CompletedAt.Time))
		Expect(r.DueAt).To(BeTemporally("==", pr.Status.DueAt.Time))
		key := fingerprintKey()
		Expect(r.Subject.FingerprintKeyID).To(Equal(receipt.FingerprintKeyID(key)))
		Expect(r.Subject.Fingerprints).To(ConsistOf(
			receipt.IdentityFingerprint{Type: "email", Value: receipt.Fingerprint(key, "email", adaEmail)},
			receipt.IdentityFingerprint{Type: "userId", Value: receipt.Fingerprint(key, "userId", "1815")},
		))
		Expect(r.Sources).To(HaveLen(1))
		s := r.Sources[0]
		Expect(s.Namespace + "/" + s.Name).To(Equal(ns + "/crm"))
		Expect(s.JobID).To(Equal(pr.Status.Sources[0].JobID))
		Expect(s.Outcome).To(Equal(receipt.OutcomeCompleted))
		Expect(*s.Records).To(Equal(int64(1)))
		Expect(s.Attempts).To(Equal(int32(1)))
		Expect(s.FirstAttemptAt).NotTo(BeNil())
		Expect(s.LastAttemptAt).NotTo(BeNil())

		By("verifying the whole log with the published public keys")
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: receipt.PublicKeysConfigMap}, cm)).To(Succeed())
		keys, err := receipt.PublicKeys(cm)
		Expect(err).NotTo(HaveOccurred())
		report, err := receipt.Verify(ctx, receipts.Store, keys)
		Expect(err).NotTo(HaveOccurred())
		Expect(report.Breaks).To(BeEmpty())
		Expect(report.Receipts).To(BeNumerically(">=", 1))
	})

	It("records an authorized agent's request as channel drp, with the agent's ids, and an unsubscribe link's as unsubscribe-link", func() {
		newSource(ns, "crm")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Annotations = map[string]string{privacyv1alpha1.AnnotationChannel: "privacy-center",
			privacyv1alpha1.AnnotationAuthorizedAgent: "CR_AA_DRP_ID_001", privacyv1alpha1.AnnotationAgentRequestID: "agent-req-9"}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = withReceipt(finished(pr))
		r := readReceipt(pr.Status.Receipt).Request
		Expect(r.Channel).To(Equal(receipt.ChannelDRP))
		Expect(r.Agent).To(Equal("CR_AA_DRP_ID_001"))
		Expect(r.AgentRequestID).To(Equal("agent-req-9"))

		optOut := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		optOut.Spec.OptOut = &privacyv1alpha1.OptOutSpec{Scopes: []string{"email-marketing"}}
		optOut.Annotations = map[string]string{privacyv1alpha1.AnnotationChannel: "privacy-center", privacyv1alpha1.AnnotationUnsubscribe: "one-click"}
		Expect(k8sClient.Create(ctx, optOut)).To(Succeed())
		optOut = withReceipt(finished(optOut))
		Expect(readReceipt(optOut.Status.Receipt).Request.Channel).To(Equal(receipt.ChannelUnsubscribeLink))
	})

	It("keeps the log in object storage with --receipt-url, continuing nothing from the directory", func() {
		cfg := exporttest.Config(GinkgoT())
		bucket, err := receipt.NewS3Store(cfg)
		Expect(err).NotTo(HaveOccurred())
		dirStore := receipts
		receipts = &faultyStore{Store: bucket}
		op.stop()
		op = startOperator(op.exportDir)
		DeferCleanup(func() {
			op.stop()
			receipts = dirStore
			op = startOperator(op.exportDir)
		})

		newSource(ns, "crm")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		ref := withReceipt(finished(pr)).Status.Receipt
		Expect(ref.Sequence).To(Equal(int64(1)), "a new log in the bucket")
		Expect(ref.Location).To(Equal("s3://" + cfg.Bucket + "/" + cfg.Prefix + "/" + receipt.Name(1)))
		raw, err := bucket.Get(ctx, receipt.Name(1))
		Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(raw)
		Expect(hex.EncodeToString(sum[:])).To(Equal(ref.SHA256))
		Expect(string(raw)).To(ContainSubstring(string(pr.UID)))
		Expect(string(raw)).NotTo(ContainSubstring(adaEmail))

		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: receipt.PublicKeysConfigMap}, cm)).To(Succeed())
		keys, err := receipt.PublicKeys(cm)
		Expect(err).NotTo(HaveOccurred())
		report, err := receipt.Verify(ctx, bucket, keys)
		Expect(err).NotTo(HaveOccurred())
		Expect(report.Breaks).To(BeEmpty())
		Expect(report.Receipts).To(Equal(1))
	})

	It("keeps a finished request until its receipt is stored: a store that is down delays the TTL deletion and says why", func() {
		newSource(ns, "billing")
		receipts.fail.Store(true)
		DeferCleanup(func() { receipts.fail.Store(false) })
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.TTLSecondsAfterFinished = ptrTo[int32](0)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			c := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReceiptRecorded)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonReceiptStoreUnavailable))
			g.Expect(c.Message).To(ContainSubstring("receipt store unavailable (test)"))
		}).Should(Succeed())
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{})
		}, 2*time.Second).Should(Succeed(), "ttlSecondsAfterFinished 0 waits for the receipt")

		By("writing it once the store is back, then deleting the request")
		receipts.fail.Store(false)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue())
		names, err := receipts.List(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		found := 0
		for _, n := range names {
			if raw, err := receipts.Get(ctx, n); err == nil && strings.Contains(string(raw), string(pr.UID)) {
				found++
			}
		}
		Expect(found).To(Equal(1), "exactly one receipt of the deleted request")
	})
})

// The approval policies of config/admission in force, with two real users:
// alice files a suspended request, bob approves it, and the receipt names
// both. Serial: the policies judge every request while they are applied.
var _ = Describe("Approvals", Serial, func() {
	It("records the approver the admission policy attributed, and the stamped requester, in the receipt", func() {
		ns := newNamespace()
		newSource(ns, "crm")
		admission := filepath.Join(testenv.RepoRoot(), "config", "admission")
		out, err := env.Kubectl("apply", "--server-side", "-k", admission)
		Expect(err).NotTo(HaveOccurred(), out)
		DeferCleanup(func() {
			out, err := env.Kubectl("delete", "-k", admission, "--ignore-not-found")
			Expect(err).NotTo(HaveOccurred(), out)
			// The next specs run without the policies: wait until the API
			// server no longer applies them.
			Eventually(func() error {
				probe := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
				probe.Spec.Requester = "not-the-admin"
				return k8sClient.Create(ctx, probe, client.DryRunAll)
			}).Should(Succeed())
			// And the four-eyes policy, which refuses resuming a request
			// that names no requester.
			waiting := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
			waiting.Spec.Suspend = true
			Expect(k8sClient.Create(ctx, waiting)).To(Succeed())
			Eventually(func() error {
				cur := &privacyv1alpha1.PrivacyRequest{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(waiting), cur); err != nil {
					return err
				}
				cur.Spec.Suspend = false
				return k8sClient.Update(ctx, cur, client.DryRunAll)
			}).Should(Succeed())
			Expect(k8sClient.Delete(ctx, waiting)).To(Succeed())
		})
		out, err = env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "privacy_requester_role.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)
		users := map[string]client.Client{}
		for _, name := range []string{"alice", "bob"} {
			binding := &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "privacy-desk-" + name + "-" + ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "privacy-requester"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
			}
			Expect(k8sClient.Create(ctx, binding)).To(Succeed())
			DeferCleanup(func() { _ = k8sClient.Delete(ctx, binding) })
			user, err := env.AddUser(envtest.User{Name: name}, nil)
			Expect(err).NotTo(HaveOccurred())
			users[name], err = client.New(user.Config(), client.Options{Scheme: scheme})
			Expect(err).NotTo(HaveOccurred())
		}

		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.Suspend = true
		// Until the policies are in force a create is not stamped: retry
		// (a server-side dry run leaves nothing behind) until it is.
		Eventually(func(g Gomega) {
			probe := pr.DeepCopy()
			g.Expect(users["alice"].Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Spec.Requester).To(Equal("alice"))
		}).Should(Succeed())
		Expect(users["alice"].Create(ctx, pr)).To(Succeed())

		// Read and updated again on a conflict: the operator writes the
		// request meanwhile (CI once got a 409 instead of the refusal).
		approve := func(as string, opts ...client.UpdateOption) error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur := &privacyv1alpha1.PrivacyRequest{}
				if err := users[as].Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
					return err
				}
				cur.Spec.Suspend = false
				cur.Spec.Approval = &privacyv1alpha1.Approval{Approver: as, Reason: "identity verified by the privacy desk", ApprovedAt: metav1.Now()}
				return users[as].Update(ctx, cur, opts...)
			})
		}
		// The four-eyes policy comes into force on its own schedule: probe
		// with dry runs, which leave nothing behind.
		Eventually(func() error { return approve("alice", client.DryRunAll) }).Should(MatchError(ContainSubstring("four-eyes")))
		Expect(approve("alice")).To(MatchError(ContainSubstring("four-eyes")), "the requester cannot approve her own request")
		Expect(approve("bob")).To(Succeed())

		doc := readReceipt(withReceipt(finished(pr)).Status.Receipt).Request
		Expect(doc.Requester).To(Equal("alice"))
		Expect(doc.Approval.Approver).To(Equal("bob"))
		Expect(doc.Approval.Reason).To(Equal("identity verified by the privacy desk"))
	})
})

var _ = Describe("What a request is about", func() {
	It("fails a job whose subject Secret changed after the first delivery, and keeps the first fingerprints", func() {
		ns := newNamespace()
		fast := newSource(ns, "fast")
		slow := newSource(ns, "slow", func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) { spec.Suspend = true })
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "subject-" + ns, Namespace: subjectNamespace, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: map[string]string{"email": adaEmail},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, nil)
		pr.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjectNamespace, Name: secret.Name}}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(ContainElement(And(HaveField("Name", "fast"), HaveField("Phase", privacyv1alpha1.SourcePhaseCompleted))))
		}).Should(Succeed())
		key := fingerprintKey()
		Expect(fixedFingerprints(pr, key)).To(Equal([]receipt.IdentityFingerprint{{Type: "email", Value: receipt.Fingerprint(key, "email", adaEmail)}}))

		By("someone puts another person into the Secret, then the slow source resumes")
		secret.StringData = map[string]string{"email": "grace@example.com"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		update(slow.ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = false })
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		Expect(condition(sourceEntry(pr, "slow").Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonSubjectChanged))
		Expect(slow.jobs()).To(BeEmpty(), "grace's identities were never sent")
		Expect(fast.jobs()).To(HaveLen(1))

		doc := readReceipt(withReceipt(pr).Status.Receipt).Request
		Expect(doc.Subject.Fingerprints).To(Equal([]receipt.IdentityFingerprint{{Type: "email", Value: receipt.Fingerprint(key, "email", adaEmail)}}),
			"the receipt names the person the request was sent about")
	})

	It("fixes the subject while the request waits for its approval; a Secret edited before dispatch fails its jobs", func() {
		ns := newNamespace()
		src := newSource(ns, "crm")
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "waiting-" + ns, Namespace: subjectNamespace, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: map[string]string{"email": adaEmail},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, nil)
		pr.Spec.Suspend = true
		pr.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjectNamespace, Name: secret.Name}}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		key := fingerprintKey()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Subject).NotTo(BeNil())
			g.Expect(pr.Status.Subject.IdentityTypes).To(Equal([]string{"email"}))
			g.Expect(pr.Status.Subject.FingerprintKeyID).To(Equal(receipt.FingerprintKeyID(key)))
			g.Expect(fixedFingerprints(pr, key)).To(Equal([]receipt.IdentityFingerprint{{Type: "email", Value: receipt.Fingerprint(key, "email", adaEmail)}}))
		}).Should(Succeed(), "fixed while suspended, before any delivery")

		secret.StringData = map[string]string{"email": "grace@example.com"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		update(pr, func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Suspend = false })
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		Expect(condition(sourceEntry(pr, "crm").Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonSubjectChanged))
		Expect(src.jobs()).To(BeEmpty())
	})

	It("refuses a subject Secret with more identities than a subject has, and says so", func() {
		ns := newNamespace()
		src := newSource(ns, "crm")
		data := map[string]string{"email": adaEmail}
		for i := range 16 {
			data[fmt.Sprintf("alias%d", i)] = fmt.Sprintf("value-%d", i)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "crowded-" + ns, Namespace: subjectNamespace, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: data,
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, nil)
		pr.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjectNamespace, Name: secret.Name}}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(HaveLen(1))
			g.Expect(pr.Status.Sources[0].Message).To(ContainSubstring("holds 17 identities; a subject has at most 16"))
		}).Should(Succeed())
		Expect(src.jobs()).To(BeEmpty())
	})

	It("keeps a finished request's due date when its deadline is edited afterwards", func() {
		ns := newNamespace()
		newSource(ns, "crm")
		pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		due := finished(pr).Status.DueAt.Time
		later := metav1.NewTime(due.Add(24 * time.Hour))
		Eventually(func() error {
			cur := &privacyv1alpha1.PrivacyRequest{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), cur); err != nil {
				return err
			}
			cur.Spec.Deadline = &later
			return k8sClient.Update(ctx, cur)
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.DueAt.Time).To(BeTemporally("==", due))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})
