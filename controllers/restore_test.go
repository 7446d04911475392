package controllers_test

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// person is a subject of the Restore specs, found by e-mail.
func person(email string) map[string]string { return map[string]string{"email": email} }

var _ = Describe("Restores", Serial, func() {
	DescribeTable("send again, after a backup is restored, every Delete, Correct and OptOut that finished since, in order, then purge once",
		func(kind string) {
			ns := newNamespace()
			shop := newShopDB(kind)
			shop.source(ns, "shop")
			rp := newPolicy(ns, "0 3 1 1 *", nil)
			rp.Spec.Categories, rp.Spec.RetainFor = []privacyv1alpha1.DataCategory{"contact"}, "400d"
			Expect(k8sClient.Create(ctx, rp)).To(Succeed())
			DeferCleanup(func() { _ = k8sClient.Delete(ctx, rp) })

			By("a Delete that finished before the backup")
			early := request(ns, privacyv1alpha1.RequestTypeDelete, person("early@example.com"))
			carriedOut(early)
			taken := backupMoment()
			restoreBackup := shop.backup()
			before := shop.state()

			By("deleting Ada, correcting Grace, opting Alan out")
			del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
			cor := request(ns, privacyv1alpha1.RequestTypeCorrect, person("grace@example.com"))
			cor.Spec.Corrections = []privacyv1alpha1.Correction{{Field: "name", Value: "Grace Brewster Hopper"}}
			opt := request(ns, privacyv1alpha1.RequestTypeOptOut, person("alan@example.com"))
			carriedOut(del, cor, opt)
			done := shop.state()
			Expect(done).NotTo(ContainSubstring("ada@example.com"))
			Expect(done).To(ContainSubstring("grace@example.com Grace Brewster Hopper"))
			Expect(done).NotTo(ContainSubstring("subscribed alan@example.com"))

			By("restoring the backup: all three are back as they were")
			restoreBackup()
			Expect(shop.state()).To(Equal(before))
			Expect(before).To(ContainSubstring("ada@example.com Ada Lovelace"))

			By("a Restore")
			rs := restoreEnded(newRestore(ns, "shop", taken))
			Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseCompleted), "%+v", rs.Status)
			Expect(rs.Status.Counts).To(Equal(privacyv1alpha1.RestoreCounts{ToReplay: 3, Sent: 3, Completed: 3}))
			Expect(condition(rs.Status.Conditions, privacyv1alpha1.ConditionReady).Reason).To(Equal(privacyv1alpha1.ReasonRestored))
			after := shop.state()
			Expect(after).NotTo(ContainSubstring("ada@example.com"), "Ada is deleted again")
			Expect(after).To(ContainSubstring("grace@example.com Grace Brewster Hopper"), "Grace is corrected again")
			Expect(after).NotTo(ContainSubstring("subscribed alan@example.com"), "Alan is opted out again")
			Expect(after).NotTo(ContainSubstring("gone@example.com"), "the purge ran once: a customer unseen for three years is gone")
			Expect(after).NotTo(ContainSubstring("early@example.com"), "early's deletion was in the backup already")
			Expect(rs.Status.Purges).To(HaveLen(1))
			Expect(rs.Status.Purges[0].Policy).To(Equal(rp.Name))
			Expect(rs.Status.Purges[0].Outcome).To(Equal("Completed"))

			By("its receipt, naming the original jobs in their order and their receipts, not early's")
			doc := readReceipt(rs.Status.Receipt)
			Expect(doc.Kind).To(Equal(receipt.KindRestore))
			Expect(doc.Restore.DataSource).To(Equal("shop"))
			Expect(doc.Restore.BackupTakenAt).To(BeTemporally("==", taken))
			Expect(doc.Restore.Counts).To(Equal(receipt.RestoreCounts{ToReplay: 3, Sent: 3, Completed: 3}))
			var jobIDs []string
			for _, j := range doc.Restore.Replayed {
				jobIDs = append(jobIDs, j.JobID)
			}
			Expect(jobIDs).To(Equal([]string{
				sourceEntry(del, "shop").JobID, sourceEntry(cor, "shop").JobID, sourceEntry(opt, "shop").JobID,
			}))
			for i, pr := range []*privacyv1alpha1.PrivacyRequest{del, cor, opt} {
				Expect(doc.Restore.Replayed[i].Sequence).To(BeEquivalentTo(withReceipt(pr).Status.Receipt.Sequence))
			}
			Expect(strings.Join(jobIDs, " ")).NotTo(ContainSubstring(sourceEntry(early, "shop").JobID))

			By("a second Restore of the same backup changes nothing")
			again := restoreEnded(newRestore(ns, "shop", taken))
			Expect(again.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseCompleted))
			Expect(again.Status.Counts.Completed).To(BeEquivalentTo(3))
			Expect(shop.state()).To(Equal(after))
		},
		Entry("on SQLite", "sqlite"),
		Entry("on PostgreSQL", "postgres"),
	)

	It("keeps a replay record the operator lost with a restart: the request waits for it, and it is stored under its first name", func() {
		ns := newNamespace()
		shop := newShopDB("sqlite")
		shop.source(ns, "shop")
		taken := backupMoment()
		receipts.fail.Store(true)
		DeferCleanup(func() { receipts.fail.Store(false) })
		del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
		del.Spec.TTLSecondsAfterFinished = ptrTo[int32](0)
		carriedOut(del)
		entry := sourceEntry(del, "shop")
		Expect(entry.Replay).NotTo(BeNil())
		Expect(entry.Replay.Stored).To(BeFalse(), "the store refuses writes")
		finishedAt := entry.Replay.FinishedAt.UTC()

		By("a restart while the store refuses: the record in memory is lost")
		op.stop()
		op = startOperator(op.exportDir)
		Consistently(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(del), del) }).
			WithTimeout(2*time.Second).Should(Succeed(), "a request whose replay record is not stored is kept")

		By("a Restore filed meanwhile waits for the record instead of missing it")
		rs := newRestore(ns, "shop", taken)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
			c := condition(rs.Status.Conditions, privacyv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(ContainSubstring("Waiting until the replay records of 1 jobs since the backup are stored."))
		}).Should(Succeed())
		receipts.fail.Store(false)
		rs = restoreEnded(rs)
		Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseCompleted))
		Expect(rs.Status.Counts).To(Equal(privacyv1alpha1.RestoreCounts{ToReplay: 1, Sent: 1, Completed: 1}))
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(del), &privacyv1alpha1.PrivacyRequest{})
			return err != nil
		}).WithTimeout(time.Minute).Should(BeTrue(), func() string {
			cur := &privacyv1alpha1.PrivacyRequest{}
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(del), cur)
			b, _ := json.MarshalIndent(cur.Status, "", "  ")
			return "deleted after its TTL once the record (and the receipt) are stored; status: " + string(b)
		})
		var found []string
		Expect(replayArchive().Since(ctx, ns, "shop", finishedAt.Add(-time.Second), "", func(name string, r replay.Record) error {
			found = append(found, name)
			Expect(r.Identities).To(Equal(map[string]string{"email": "ada@example.com"}))
			Expect(r.FinishedAt).To(BeTemporally("==", finishedAt))
			return nil
		})).To(Succeed())
		all, _ := receipts.ListDir(ctx, receipt.ReplayDir, "")
		Expect(found).To(HaveLen(1), "handed over again by the new leader, under the name it had; stored: %q", all)
	})

	It("never writes what it replays into logs, Events, status, metrics or receipts: the store holds it sealed, the keys are not it", func() {
		ns := newNamespace()
		shop := newShopDB("sqlite")
		shop.source(ns, "shop")
		taken := backupMoment()
		restoreBackup := shop.backup()
		del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
		cor := request(ns, privacyv1alpha1.RequestTypeCorrect, person("grace@example.com"))
		cor.Spec.Corrections = []privacyv1alpha1.Correction{{Field: "name", Value: "Grace Brewster Hopper"}}
		carriedOut(del, cor)
		restoreBackup()
		rs := restoreEnded(newRestore(ns, "shop", taken))
		Expect(rs.Status.Counts.Completed).To(BeEquivalentTo(2))

		secrets := []string{"ada@example.com", "grace@example.com", "Grace Brewster Hopper"}
		var everything strings.Builder
		for _, obj := range []any{rs.Status, withReceipt(del).Status, withReceipt(cor).Status} {
			raw, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			everything.Write(raw)
		}
		events, err := env.Kubectl("get", "events", "-A", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(ContainSubstring(rs.Name), "the Restore's Events are there to inspect")
		everything.WriteString(events)
		families, err := metrics.Registry.Gather()
		Expect(err).NotTo(HaveOccurred())
		for _, f := range families {
			everything.WriteString(f.String())
		}
		keys := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: replay.SecretName}, keys)).To(Succeed())
		for period := range keys.Data {
			everything.WriteString(period)
		}
		names, err := receipts.List(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		replays, err := receipts.ListDir(ctx, receipt.ReplayDir, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(slices.DeleteFunc(slices.Clone(replays), func(n string) bool { return !strings.Contains(n, "-"+ns+"_shop_") })).
			To(HaveLen(2), "both records are stored")
		for _, n := range append(names, replays...) {
			raw, err := receipts.Get(ctx, n)
			Expect(err).NotTo(HaveOccurred())
			everything.WriteString(n)
			everything.Write(raw)
		}
		Expect(everything.String()).To(ContainSubstring(string(rs.UID)), "the Restore's receipt is there to inspect")
		for _, s := range secrets {
			Expect(string(logs.Bytes())).NotTo(ContainSubstring(s), "logs")
			Expect(everything.String()).NotTo(ContainSubstring(s), "status, Events, metrics, the keys' Secret or the store")
		}
	})

	It("sends a record only to the endpoint that received the job: a source pointed elsewhere since gets nothing", func() {
		ns := newNamespace()
		shop := newShopDB("sqlite")
		src := shop.source(ns, "shop")
		taken := backupMoment()
		restoreBackup := shop.backup()
		del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
		carriedOut(del)
		restoreBackup()
		ds := &privacyv1alpha1.DataSource{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, ds)).To(Succeed())
		orig := ds.DeepCopy()
		// The same server under another name: what matters is that the
		// DataSource now says to send elsewhere.
		ds.Spec.Endpoint.URL = strings.Replace(src.server.URL, "127.0.0.1", "localhost", 1)
		Expect(k8sClient.Patch(ctx, ds, client.MergeFrom(orig))).To(Succeed())

		rs := restoreEnded(newRestore(ns, "shop", taken))
		Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseFailed))
		Expect(rs.Status.Counts).To(Equal(privacyv1alpha1.RestoreCounts{ToReplay: 1, Sent: 1, Failed: 1}))
		Expect(rs.Status.Failures).To(HaveLen(1))
		Expect(rs.Status.Failures[0].Message).To(ContainSubstring("endpoint changed"))
		Expect(shop.state()).To(ContainSubstring("ada@example.com Ada Lovelace"), "nothing was sent")
	})

	It("keeps a Delete a LegalHold now covers from being replayed, and says so", func() {
		ns := newNamespace()
		shop := newShopDB("sqlite")
		src := shop.source(ns, "shop")
		taken := backupMoment()
		restoreBackup := shop.backup()
		del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
		opt := request(ns, privacyv1alpha1.RequestTypeOptOut, person("alan@example.com"))
		carriedOut(del, opt)
		restoreBackup()

		hold := legalHold("ada-"+ns, privacyv1alpha1.LegalHoldScope{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{testIDLabel: ns}},
			Subjects:          []string{receipt.Fingerprint(fingerprintKey(), "email", "ada@example.com")},
		}, time.Time{})
		Expect(k8sClient.Create(ctx, hold)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, hold) })

		rs := restoreEnded(newRestore(ns, src.name, taken))
		Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseCompleted))
		Expect(rs.Status.Counts).To(Equal(privacyv1alpha1.RestoreCounts{ToReplay: 2, Sent: 1, Completed: 1, Held: 1}))
		Expect(rs.Status.HeldBy).To(Equal([]string{hold.Name}))
		Expect(shop.state()).To(ContainSubstring("ada@example.com Ada Lovelace"), "the hold keeps Ada's restored data")
		Expect(shop.state()).NotTo(ContainSubstring("subscribed alan@example.com"))
		doc := readReceipt(rs.Status.Receipt)
		Expect(doc.Restore.Holds).To(Equal([]string{hold.Name}))
		Expect(doc.Restore.Counts.Held).To(BeEquivalentTo(1))
	})

	It("refuses a backup in the future, one older than the window, and a source without backups", func() {
		ns := newNamespace()
		newShopDB("sqlite").source(ns, "shop")
		newSource(ns, "plain")
		for _, tc := range []struct {
			source string
			taken  time.Time
			reason string
		}{
			{"shop", fakeClock.Now().Add(time.Hour), privacyv1alpha1.ReasonBackupInFuture},
			{"shop", fakeClock.Now().Add(-36 * 24 * time.Hour), privacyv1alpha1.ReasonBackupOutsideWindow},
			{"plain", fakeClock.Now().Add(-time.Hour), privacyv1alpha1.ReasonNoBackups},
		} {
			rs := restoreEnded(newRestore(ns, tc.source, tc.taken))
			Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseRefused))
			Expect(condition(rs.Status.Conditions, privacyv1alpha1.ConditionStalled).Reason).To(Equal(tc.reason))
			Expect(rs.Status.Counts.Sent).To(BeZero())
		}
		By("admission: a spec cannot change, backups.retainFor is whole days")
		// Patches without a resourceVersion: the operator writes status meanwhile.
		rs := newRestore(ns, "shop", fakeClock.Now())
		orig := rs.DeepCopy()
		rs.Spec.DataSource = "other"
		Expect(k8sClient.Patch(ctx, rs, client.MergeFrom(orig))).To(MatchError(ContainSubstring("immutable")))
		ds := &privacyv1alpha1.DataSource{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, ds)).To(Succeed())
		origDS := ds.DeepCopy()
		ds.Spec.Backups.RetainFor = "12h"
		Expect(k8sClient.Patch(ctx, ds, client.MergeFrom(origDS))).To(MatchError(ContainSubstring("retainFor")))
	})

	It("erases the records no backup can need: the key goes, no copy opens, the sweep's receipt names the days", func() {
		ns := newNamespace()
		shop := newShopDB("sqlite")
		shop.source(ns, "shop")
		del := request(ns, privacyv1alpha1.RequestTypeDelete, person("ada@example.com"))
		carriedOut(del)
		period := replay.Period(fakeClock.Now())
		var name string
		var sealed []byte
		Eventually(func(g Gomega) {
			names, err := receipts.ListDir(ctx, receipt.ReplayDir+period+"/", "")
			g.Expect(err).NotTo(HaveOccurred())
			for _, n := range names {
				if strings.Contains(n, sourceEntry(del, "shop").JobID) {
					name = n
				}
			}
			g.Expect(name).NotTo(BeEmpty(), "the Delete's replay record is stored")
		}).Should(Succeed())
		sealed, err := receipts.Get(ctx, name)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(sealed)).NotTo(ContainSubstring("ada@example.com"))

		By("moving the clock past the window")
		DeferCleanup(fakeClock.Reset)
		fakeClock.SetTime(time.Now().Add(37 * 24 * time.Hour))
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: replay.SecretName}, s)).To(Succeed())
			g.Expect(s.Data).NotTo(HaveKey(period))
			g.Expect(s.Annotations[replay.AnnotationErasedThrough] >= period).To(BeTrue())
			for _, key := range s.Data {
				_, err := replay.Open(key, period, name, sealed)
				g.Expect(err).To(MatchError(replay.ErrSealBroken), "a copy of the record opens with no key left")
			}
		}).Should(Succeed())
		Eventually(func() ([]string, error) { return receipts.ListDir(ctx, receipt.ReplayDir+period+"/", "") }).Should(BeEmpty())
		Eventually(func(g Gomega) {
			var periods []string
			names, err := receipts.List(ctx, "")
			g.Expect(err).NotTo(HaveOccurred())
			for _, n := range names {
				if _, ok := receipt.ParseName(n); !ok {
					continue
				}
				raw, err := receipts.Get(ctx, n)
				g.Expect(err).NotTo(HaveOccurred())
				if _, r, err := receipt.Decode(raw); err == nil && r.Kind == receipt.KindReplayErasure {
					periods = append(periods, r.Erasure.Periods...)
				}
			}
			g.Expect(slices.Contains(periods, period)).To(BeTrue(), "an erasure receipt names %s: %q", period, periods)
		}).Should(Succeed())
		Expect(string(logs.Bytes())).NotTo(ContainSubstring("ada@example.com"), "the sweep logs periods, never a record's content")

		By("a Restore for that range is refused")
		rs := restoreEnded(newRestore(ns, "shop", time.Now().Add(-time.Hour)))
		Expect(rs.Status.Phase).To(Equal(privacyv1alpha1.RestorePhaseRefused))
		Expect(condition(rs.Status.Conditions, privacyv1alpha1.ConditionReady).Reason).To(Equal(privacyv1alpha1.ReasonBackupOutsideWindow))
	})
})

// replayArchive reads the operator's replay records as it keeps them.
func replayArchive() *replay.Archive {
	return &replay.Archive{Store: receipts, Keys: &replay.Keys{Client: k8sClient, Namespace: operatorNamespace}}
}
