package controllers_test

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// endpointServer is an HTTPS data source on loopback (its certificate is
// generated for the test) whose SDK handler can be swapped, e.g. to rotate
// its key.
type endpointServer struct {
	srv      *httptest.Server
	handler  atomic.Pointer[http.Handler]
	probes   atomic.Int32
	caBundle []byte
}

func newEndpointServer(secret string, types ...protocol.JobType) *endpointServer {
	GinkgoHelper()
	e := &endpointServer{}
	e.serve(secret, types...)
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == protocol.PathCapabilities {
			e.probes.Add(1)
		}
		(*e.handler.Load()).ServeHTTP(w, r)
	}))
	DeferCleanup(e.srv.Close)
	e.caBundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	return e
}

// serve swaps in an SDK handler that signs with secret and serves types.
func (e *endpointServer) serve(secret string, types ...protocol.JobType) {
	GinkgoHelper()
	if len(types) == 0 {
		types = []protocol.JobType{protocol.JobAccess, protocol.JobDelete}
	}
	ok := func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }
	cfg := datasource.Config{Secrets: []string{secret}, Identities: []string{"email"}, Now: fakeClock.Now}
	for _, t := range types {
		switch t {
		case protocol.JobAccess:
			cfg.Access = ok
		case protocol.JobDelete:
			cfg.Delete = ok
		case protocol.JobPurge:
			cfg.Purge = ok
		}
	}
	h, err := datasource.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	var hh http.Handler = h
	e.handler.Store(&hh)
}

func signingSecret(ns, name, value string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		StringData: map[string]string{"signingSecret": value},
	}
}

func httpsDataSource(ns, name, url string, caBundle []byte) *privacyv1alpha1.DataSource {
	return &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{URL: url, CABundle: caBundle},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: name + "-signing"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
		},
	}
}

// expectReady waits for Ready with the given status and reason.
func expectReady(ds *privacyv1alpha1.DataSource, status metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
		ready := condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(reason), ready.Message)
		g.Expect(ready.Status).To(Equal(status))
		g.Expect(ds.Status.ObservedGeneration).To(Equal(ds.Generation))
		// A probe goes through the DataSource reconciler's one worker and
		// the dispatcher: on a loaded two-core CI machine (make test runs
		// the packages side by side) it once took longer than 20 s.
	}).WithTimeout(45 * time.Second).Should(Succeed())
}

// update re-reads obj, applies change and writes it, again after a
// conflict with a controller's status write.
func update[T client.Object](obj T, change func(T)) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}

func setSecret(ns, name, value string) {
	GinkgoHelper()
	s := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
	s.Data = map[string][]byte{"signingSecret": []byte(value)}
	Expect(k8sClient.Update(ctx, s)).To(Succeed())
}

var _ = Describe("DataSource readiness", func() {
	var ns string
	var secret string
	BeforeEach(func() {
		ns = newNamespace()
		secret = protocol.NewSecret()
	})

	It("is Ready over HTTPS with its caBundle, and reports the endpoint and capabilities", func() {
		e, ds := readyHTTPSSource(ns, secret)
		Expect(ds.Status.Capabilities.RequestTypes).To(ConsistOf(privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete))
		Expect(ds.Status.LastProbeTime).NotTo(BeNil())
		Expect(ds.Status.EndpointHost).To(Equal(e.srv.Listener.Addr().String()))
		Expect(kstatusOf(Default, ds)).To(Equal(status.CurrentStatus))
	})

	It("reports TLSError without the caBundle and clears it when the bundle is added", func() {
		e := newEndpointServer(secret)
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", secret))).To(Succeed())
		ds := httpsDataSource(ns, "crm", e.srv.URL, nil)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonTLSError)
		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Endpoint.CABundle = e.caBundle })
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)

		By("recording each transition as an Event on the DataSource")
		Eventually(func(g Gomega) {
			reasons := eventReasons(g, ns, func(e corev1.Event) bool { return e.InvolvedObject.Name == "crm" })
			g.Expect(reasons).To(ContainElements(privacyv1alpha1.ReasonTLSError, privacyv1alpha1.ReasonProbeSucceeded))
		}).Should(Succeed())
	})

	It("reports SecretNotFound and InvalidSecret until the Secret is right", func() {
		e := newEndpointServer(secret)
		ds := httpsDataSource(ns, "crm", e.srv.URL, e.caBundle)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)
		expectStalled(ds, func() []metav1.Condition { return ds.Status.Conditions }, privacyv1alpha1.ReasonSecretNotFound, "does not exist")

		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", "not-a-whsec-secret"))).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonInvalidSecret)
		expectStalled(ds, func() []metav1.Condition { return ds.Status.Conditions }, privacyv1alpha1.ReasonInvalidSecret, "crm-signing")
		Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady).Message).NotTo(ContainSubstring("not-a-whsec-secret"),
			"the secret's value never appears in status")

		setSecret(ns, "crm-signing", secret)
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
		Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil(), "a fixed Secret clears Stalled")
	})

	It("reports SignatureMismatch for an endpoint that does not hold the key, and follows a rotation", func() {
		oldKey, newKey := secret, protocol.NewSecret()
		e := newEndpointServer(protocol.NewSecret()) // a stranger's key
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", oldKey))).To(Succeed())
		ds := httpsDataSource(ns, "crm", e.srv.URL, e.caBundle)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonSignatureMismatch)

		e.serve(oldKey)
		setSecret(ns, "crm-signing", oldKey+" "+newKey) // rotation starts: both keys valid
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)

		probes := e.probes.Load()
		e.serve(newKey) // the endpoint moves to the new key
		setSecret(ns, "crm-signing", oldKey+" "+newKey+" ")
		Eventually(e.probes.Load).Should(BeNumerically(">", probes))
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)

		e.serve(oldKey)                      // an endpoint still on the old key...
		setSecret(ns, "crm-signing", newKey) // ...once the rotation ends
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonSignatureMismatch)
	})

	It("reports CapabilitiesMismatch when the endpoint does not serve a declared type", func() {
		e := newEndpointServer(secret, protocol.JobAccess)
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", secret))).To(Succeed())
		ds := httpsDataSource(ns, "crm", e.srv.URL, e.caBundle)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonCapabilitiesMismatch)
		Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady).Message).To(ContainSubstring("Delete"))
		update(ds, func(ds *privacyv1alpha1.DataSource) {
			ds.Spec.RequestTypes = []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess}
		})
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
	})

	It("reports EndpointUnreachable, EndpointNotAllowed and Suspended, each cleared by a fix", func() {
		e := newEndpointServer(secret)
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", secret))).To(Succeed())
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		deadURL := "https://" + closed.Addr().String()
		Expect(closed.Close()).To(Succeed())

		ds := httpsDataSource(ns, "crm", deadURL, e.caBundle)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonEndpointUnreachable)
		Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil(), "an unreachable endpoint is retried, not stalled")

		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Endpoint.URL = "https://169.254.169.254/latest" })
		expectReady(ds, metav1.ConditionFalse, privacyv1alpha1.ReasonEndpointNotAllowed)

		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Endpoint.URL = e.srv.URL })
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)

		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = true })
		// Suspended, the source is held as asked, not judged: no Ready
		// (kstatus reads it Current, docs/gitops.md), Suspended says why.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.Status.ObservedGeneration).To(Equal(ds.Generation))
			g.Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)).To(BeNil())
			g.Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil())
			suspended := condition(ds.Status.Conditions, privacyv1alpha1.ConditionSuspended)
			g.Expect(suspended).NotTo(BeNil())
			g.Expect(suspended.Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(45 * time.Second).Should(Succeed())
		update(ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = false })
		expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
		Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionSuspended)).To(BeNil())
	})

	It("reports NamespaceNotAllowed until the namespace is let in, and never sends it a job", func() {
		outside := "t-outside-" + ns[2:]
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: outside, Labels: map[string]string{testIDLabel: outside},
		}})).To(Succeed())
		src := newSource(outside, "shadow")
		expectReady(src.ds, metav1.ConditionFalse, privacyv1alpha1.ReasonNamespaceNotAllowed)

		pr := request(outside, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(BeEmpty())
		}, 2*time.Second).Should(Succeed())
		Expect(src.httpRequests()).To(BeEmpty(), "a namespace outside the allowed set is never contacted")

		nsObj := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: outside}, nsObj)).To(Succeed())
		nsObj.Labels["privacyoperator.io/datasource"] = "true"
		Expect(k8sClient.Update(ctx, nsObj)).To(Succeed())
		expectReady(src.ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})

	It("writes nothing when a probe finds nothing new", func() {
		e, ds := readyHTTPSSource(ns, secret)
		settled := ds.ResourceVersion

		// Periodic probes (every probeInterval) and one forced by a Secret
		// change that leaves the key as it was.
		probes := e.probes.Load()
		setSecret(ns, "crm-signing", secret+" ")
		Eventually(e.probes.Load).WithTimeout(3 * probeInterval).Should(BeNumerically(">=", probes+2))
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.ResourceVersion).To(Equal(settled))
		}, time.Second).Should(Succeed(), "an unchanged probe must not write status")
	})
})

var _ = Describe("Plain-HTTP endpoints", func() {
	It("carry an Insecure warning condition only while spec.endpoint.insecure allows http", func() {
		ns := newNamespace()
		src := newSource(ns, "plain") // an httptest server: http:// with insecure: true
		ds := &privacyv1alpha1.DataSource{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), ds)).To(Succeed())
			c := condition(ds.Status.Conditions, privacyv1alpha1.ConditionInsecure)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonPlaintextEndpoint))
			g.Expect(c.Message).To(ContainSubstring("unencrypted"))
		}).Should(Succeed())

		By("refusing at admission to drop insecure while the endpoint is http")
		err := k8sClient.Patch(ctx, ds, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"endpoint":{"insecure":false}}}`)))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("set insecure: true to accept that explicitly"))
	})
})

// readyHTTPSSource serves an SDK endpoint over HTTPS, registers it as the
// DataSource crm in ns with its caBundle and waits until it is Ready.
func readyHTTPSSource(ns, secret string) (*endpointServer, *privacyv1alpha1.DataSource) {
	GinkgoHelper()
	e := newEndpointServer(secret)
	Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-signing", secret))).To(Succeed())
	ds := httpsDataSource(ns, "crm", e.srv.URL, e.caBundle)
	Expect(k8sClient.Create(ctx, ds)).To(Succeed())
	expectReady(ds, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
	return e, ds
}
