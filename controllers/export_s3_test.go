package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
)

// These specs run the operator with its exports in the S3 server of the
// tests (hack/versitygw.sh), each under a prefix of its own, and put the
// suite's operator back afterwards.
var _ = Describe("Access exports in S3", Serial, func() {
	var cfg export.S3Config
	BeforeEach(func() {
		cfg = exporttest.Config(GinkgoT())
	})
	useS3 := func(cfg export.S3Config) {
		dir := op.exportDir
		op.stop()
		op = startOperator(dir, &cfg)
		DeferCleanup(func() {
			op.stop()
			op = startOperator(dir)
		})
	}

	It("writes the export to the bucket, says where in status, and deletes it when it expires", func() {
		useS3(cfg)
		ns := newNamespace()
		newSource(ns, "billing")
		newSource(ns, "crm", async)
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))

		By("pointing status.export at the object, with its checksum and size, and no presigned URL")
		exp := pr.Status.Export
		Expect(exp).NotTo(BeNil())
		key := cfg.Prefix + "/" + string(pr.UID) + "/export.json"
		Expect(exp.Location).To(Equal("s3://" + cfg.Bucket + "/" + key))
		Expect(exp.Location).NotTo(ContainSubstring("?"), "a presigned URL would let anyone who reads the request download the data")
		data := readS3(cfg, key)
		sum := sha256.Sum256(data)
		Expect(exp.SHA256).To(Equal(hex.EncodeToString(sum[:])))
		Expect(exp.Bytes).To(Equal(int64(len(data))))
		Expect(exp.ExpiresAt.Time).To(BeTemporally("~", pr.Status.CompletedAt.Add(exportTTL), time.Second))
		var doc struct {
			Data map[string]map[string]string `json:"data"`
		}
		Expect(json.Unmarshal(data, &doc)).To(Succeed())
		Expect(doc.Data).To(Equal(map[string]map[string]string{
			ns + "/billing": {"source": "billing"}, ns + "/crm": {"source": "crm"},
		}))

		By("dropping the sources' parts once status holds the export, with nothing of the request on local disk")
		requestPrefix := cfg.Prefix + "/" + string(pr.UID) + "/"
		Eventually(func() []string { return listS3(cfg, requestPrefix+"parts/") }).Should(BeEmpty())
		Expect(filepath.Join(op.exportDir, string(pr.UID))).NotTo(BeAnExistingFile())

		By("deleting the objects when the export expires")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Export).To(BeNil())
			_, err := exporttest.Client(GinkgoT()).StatObject(ctx, cfg.Bucket, key, minio.StatObjectOptions{})
			g.Expect(minio.ToErrorResponse(err).Code).To(Equal(minio.NoSuchKey), "object still in the bucket: %v", err)
			g.Expect(listS3(cfg, requestPrefix)).To(BeEmpty())
		}).WithTimeout(exportTTL + 10*time.Second).Should(Succeed())
	})

	It("completes on a second operator, with an empty export dir of its own, an export whose parts the first filed", func() {
		useS3(cfg)
		ns := newNamespace()
		billing := newSource(ns, "billing")
		crm := newSource(ns, "crm", func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Suspend = true
		})
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())

		By("filing billing's part in the bucket on the first operator, crm held")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(HaveLen(2))
			phases := map[string]privacyv1alpha1.SourcePhase{}
			for _, src := range pr.Status.Sources {
				phases[src.Name] = src.Phase
			}
			g.Expect(phases).To(HaveKeyWithValue("billing", privacyv1alpha1.SourcePhaseCompleted))
		}).Should(Succeed())
		requestPrefix := cfg.Prefix + "/" + string(pr.UID) + "/"
		Expect(listS3(cfg, requestPrefix)).To(Equal([]string{requestPrefix + "parts/" + ns + "_billing.json"}))
		Expect(filepath.Join(op.exportDir, string(pr.UID))).NotTo(BeAnExistingFile())

		By("stopping it and starting another whose export dir is empty, as a new leader elsewhere")
		op.stop()
		op = startOperator(GinkgoT().TempDir(), &cfg) // useS3 puts the suite's operator back
		update(crm.ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = false })

		By("writing the export with both sources' data")
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(pr.Status.Export).NotTo(BeNil())
		data := readS3(cfg, strings.TrimPrefix(pr.Status.Export.Location, "s3://"+cfg.Bucket+"/"))
		sum := sha256.Sum256(data)
		Expect(pr.Status.Export.SHA256).To(Equal(hex.EncodeToString(sum[:])))
		var doc struct {
			Data map[string]map[string]string `json:"data"`
		}
		Expect(json.Unmarshal(data, &doc)).To(Succeed())
		Expect(doc.Data).To(Equal(map[string]map[string]string{
			ns + "/billing": {"source": "billing"}, ns + "/crm": {"source": "crm"},
		}))
		Expect(billing.jobRuns()).To(HaveLen(1), "billing's job is not sent again")
		Eventually(func() []string { return listS3(cfg, requestPrefix+"parts/") }).Should(BeEmpty())
	})

	// A bucket that refuses connections fails each call at once; one that
	// takes them and never answers (black-holed) fails it at its timeout,
	// so that no reconcile worker is held.
	for _, outage := range []struct {
		bucket, says string
		// cut makes the endpoint fail as the outage does, until restore
		// forwards it to the server.
		cut func(server string) (endpoint string, restore func())
	}{
		{bucket: "refuses connections", says: "connection refused", cut: func(server string) (string, func()) {
			addr := closedPort()
			return addr, func() { exporttest.Forward(GinkgoT(), addr, server) }
		}},
		{bucket: "never answers", says: "did not finish within 2s", cut: func(server string) (string, func()) {
			addr, forward := exporttest.BlackHole(GinkgoT())
			return addr, func() { forward(server) }
		}},
	} {
		It("retries the export step while the bucket "+outage.bucket+", says why, and loses nothing", func() {
			exportOutage(cfg, useS3, outage.says, outage.cut)
		})
	}

	It("holds no reconcile worker while the bucket never answers: a Delete finishes as usual", func() {
		addr, _ := exporttest.BlackHole(GinkgoT())
		broken := cfg
		broken.Endpoint = "http://" + addr
		// Each call would hold its caller for this long.
		broken.Timeouts = export.Timeouts{Call: time.Minute, Assemble: time.Minute}
		useS3(broken)

		ns := newNamespace()
		newSource(ns, "crm")
		var waiting []*privacyv1alpha1.PrivacyRequest
		for range 12 {
			pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			waiting = append(waiting, pr)
		}
		// Every Access answer is with the bucket (more than there are
		// reconcile workers).
		Eventually(func(g Gomega) {
			for _, pr := range waiting {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
				g.Expect(pr.Status.Sources).NotTo(BeEmpty())
				g.Expect(pr.Status.Sources[0].Attempts).To(BeNumerically(">", 0))
			}
		}).Should(Succeed())

		other := newNamespace()
		newSource(other, "billing")
		del := request(other, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, del)).To(Succeed())
		start := time.Now()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(del), del)).To(Succeed())
			g.Expect(del.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		}).WithTimeout(15*time.Second).Should(Succeed(), "the Delete needs no store and waits for none")
		GinkgoWriter.Printf("Delete completed %s after creation, with %d Access requests at a black-holed bucket\n", time.Since(start), len(waiting))
		for _, pr := range waiting {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			Expect(pr.Status.Phase).NotTo(Equal(privacyv1alpha1.RequestPhaseCompleted), "an Access request cannot finish without its bucket")
		}
	})
})

// exportOutage runs an Access request while the bucket fails (cut), checks
// that the request says why (says) and waits, then restores the bucket and
// checks that the export is written from the kept data.
func exportOutage(cfg export.S3Config, useS3 func(export.S3Config), says string, cut func(server string) (string, func())) {
	addr, restore := cut(strings.TrimPrefix(cfg.Endpoint, "http://"))
	broken := cfg
	broken.Endpoint = "http://" + addr
	broken.Timeouts = export.Timeouts{Call: 2 * time.Second, Assemble: 2 * time.Second}
	useS3(broken)
	ns := newNamespace()
	billing := newSource(ns, "billing")
	crm := newSource(ns, "crm", async)
	pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
	Expect(k8sClient.Create(ctx, pr)).To(Succeed())

	By("reporting the failed export step in Ready and Reconciling: the answers cannot be filed in the bucket")
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		ready := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonExportFailed))
		g.Expect(ready.Message).To(ContainSubstring(says))
		g.Expect(ready.Message).To(ContainSubstring("s3://" + cfg.Bucket + "/" + cfg.Prefix + "/" + string(pr.UID) + "/parts/"))
		reconciling := condition(pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		g.Expect(reconciling).NotTo(BeNil())
		g.Expect(reconciling.Reason).To(Equal(privacyv1alpha1.ReasonExportFailed))
		g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseInProgress))
		g.Expect(pr.Status.Export).To(BeNil())
	}).Should(Succeed())
	Eventually(func(g Gomega) []string {
		return eventReasons(g, metav1.NamespaceDefault, func(e corev1.Event) bool {
			return e.InvolvedObject.Name == pr.Name && e.Type == corev1.EventTypeWarning
		})
	}).Should(ContainElement(privacyv1alpha1.ReasonExportFailed))

	By("writing the export from the kept data once the endpoint answers")
	restore()
	Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady).Reason).To(Equal(privacyv1alpha1.ReasonCompleted))
	Expect(pr.Status.Export).NotTo(BeNil())
	data := readS3(cfg, strings.TrimPrefix(pr.Status.Export.Location, "s3://"+cfg.Bucket+"/"))
	sum := sha256.Sum256(data)
	Expect(pr.Status.Export.SHA256).To(Equal(hex.EncodeToString(sum[:])))
	Expect(string(data)).To(And(ContainSubstring(`"source":"billing"`), ContainSubstring(`"source":"crm"`)))
	Expect(billing.jobRuns()).To(HaveLen(1), "no job is sent again")
	Expect(crm.jobRuns()).To(HaveLen(1), "no job is sent again")
}

// listS3 lists the keys under prefix in cfg's bucket.
func listS3(cfg export.S3Config, prefix string) []string {
	GinkgoHelper()
	var keys []string
	for obj := range exporttest.Client(GinkgoT()).ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		Expect(obj.Err).NotTo(HaveOccurred())
		keys = append(keys, obj.Key)
	}
	return keys
}

func readS3(cfg export.S3Config, key string) []byte {
	GinkgoHelper()
	obj, err := exporttest.Client(GinkgoT()).GetObject(ctx, cfg.Bucket, key, minio.GetObjectOptions{})
	Expect(err).NotTo(HaveOccurred())
	defer obj.Close()
	data, err := io.ReadAll(obj)
	Expect(err).NotTo(HaveOccurred())
	return data
}

// closedPort is a loopback address where nothing listens (yet).
func closedPort() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}
