package controllers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// testIDLabel labels each test's namespace so that its requests select
// only its own DataSources.
const testIDLabel = "privacyoperator.io/test-id"

func newNamespace() string {
	GinkgoHelper()
	name := "t-" + rand.String(8)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		testIDLabel: name, "privacyoperator.io/datasource": "true",
	}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	// The spec's DataSources go with it (envtest never removes a
	// namespace): left behind, each would be probed every probeInterval
	// for the rest of the suite, and on a busy machine the probes of a
	// hundred dead sources delay the first pass of a new one beyond an
	// Eventually's timeout.
	DeferCleanup(func() {
		Expect(k8sClient.DeleteAllOf(ctx, &privacyv1alpha1.DataSource{}, client.InNamespace(name))).To(Succeed())
	})
	return name
}

// kstatusOf computes the health that GitOps tools (Flux, Argo CD via
// kstatus) read from the object.
func kstatusOf(g Gomega, obj client.Object) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	gvk, err := apiutil.GVKForObject(obj, scheme)
	g.Expect(err).NotTo(HaveOccurred())
	un := &unstructured.Unstructured{Object: u}
	un.SetGroupVersionKind(gvk)
	res, err := status.Compute(un)
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// request returns a PrivacyRequest that targets only the DataSources of ns.
func request(ns string, t privacyv1alpha1.RequestType, identities map[string]string) *privacyv1alpha1.PrivacyRequest {
	pr := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "req-"},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:              t,
			Subject:           privacyv1alpha1.Subject{Identities: identities},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{testIDLabel: ns}},
		},
	}
	if t == privacyv1alpha1.RequestTypeCorrect {
		pr.Spec.Corrections = []privacyv1alpha1.Correction{{Field: "email", Value: "ada.lovelace@example.com"}}
	}
	return pr
}

const adaEmail = "ada@example.com"

var ada = map[string]string{"email": adaEmail, "userId": "1815"}

// source is a real data source on loopback: the SDK's handler behind an
// httptest server, registered as a DataSource with its Secret.
type source struct {
	ns, name string
	secret   string
	server   *httptest.Server
	handler  *datasource.Handler
	ds       *privacyv1alpha1.DataSource

	wrapper func(http.Handler) http.Handler
	// labels are the DataSource's.
	labels map[string]string
	// secretValue, when set, is stored in the Secret instead of secret.
	secretValue string

	mu       sync.Mutex
	runs     map[string]int // executions per job id
	received []protocol.Job
	requests []string // "METHOD path" of every HTTP request
}

type sourceOption func(*source, *datasource.Config, *privacyv1alpha1.DataSourceSpec)

// newSource starts a data source whose job functions record the job and
// succeed with one record (Access returns {"source": name}).
func newSource(ns, name string, opts ...sourceOption) *source {
	GinkgoHelper()
	s := &source{ns: ns, name: name, secret: protocol.NewSecret(), runs: map[string]int{}}
	run := func(_ context.Context, job *protocol.Job) (datasource.Result, error) {
		s.mu.Lock()
		s.runs[job.ID]++
		s.received = append(s.received, *job)
		s.mu.Unlock()
		res := datasource.Result{Records: 1}
		if job.Type == protocol.JobAccess {
			res.Data = map[string]string{"source": name}
		}
		return res, nil
	}
	cfg := datasource.Config{
		Secrets: []string{s.secret}, Identities: []string{"email"},
		Access: run, Delete: run, Correct: run, OptOut: run, Purge: run,
		CallbackBackoff: 50 * time.Millisecond,
		Now:             fakeClock.Now,
	}
	spec := privacyv1alpha1.DataSourceSpec{
		SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: name + "-signing", Key: "signingSecret"},
		RequestTypes: []privacyv1alpha1.RequestType{
			privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete,
			privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut,
		},
		Identities: []privacyv1alpha1.IdentityType{"email"},
		Retry: privacyv1alpha1.RetryPolicy{
			MaxAttempts:    3,
			InitialBackoff: &metav1.Duration{Duration: 100 * time.Millisecond},
			MaxBackoff:     &metav1.Duration{Duration: 500 * time.Millisecond},
		},
	}
	for _, o := range opts {
		o(s, &cfg, &spec)
	}
	h, err := datasource.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	s.handler = h
	var inner http.Handler = h
	if s.wrapper != nil {
		inner = s.wrapper(h)
	}
	s.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	DeferCleanup(func() {
		s.server.Close()
		h.Close()
	})

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-signing", Namespace: ns},
		StringData: map[string]string{"signingSecret": s.secret},
	}
	if s.secretValue != "" {
		secret.StringData["signingSecret"] = s.secretValue
	}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	if spec.Endpoint.URL == "" && spec.Endpoint.Service == nil {
		spec.Endpoint.URL = s.server.URL
		spec.Endpoint.Insecure = true // httptest serves plain HTTP on loopback
	}
	if spec.Endpoint.Timeout == nil {
		spec.Endpoint.Timeout = &metav1.Duration{Duration: 2 * time.Second}
	}
	s.ds = &privacyv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: s.labels}, Spec: spec}
	Expect(k8sClient.Create(ctx, s.ds)).To(Succeed())
	// In the operator's cache before the spec files a request: one filed
	// at once may not fix every source among its own (CI: "no source
	// entry huge").
	s.observed()
	return s
}

// observed waits until the operator reported on the source's DataSource,
// so that it is in the operator's cache: a request created after this
// fixes it among its sources (one created at once may not, on a busy
// machine).
func (s *source) observed() {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		cur := &privacyv1alpha1.DataSource{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.ds), cur)).To(Succeed())
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
	}).WithTimeout(time.Minute).Should(Succeed())
}

func (s *source) jobRuns() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.runs {
		out[k] = v
	}
	return out
}

func (s *source) jobs() []protocol.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.Job(nil), s.received...)
}

func (s *source) httpRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// signedAnswer writes a signed protocol answer to r, as a source's own
// middleware (a rate limiter, say) would.
func (s *source) signedAnswer(w http.ResponseWriter, r *http.Request, code int, body any, header map[string]string) {
	raw, _ := json.Marshal(body)
	key, _ := protocol.ParseKey(s.secret)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = protocol.Sign(w.Header(), protocol.AnswerPayload(r.Method, r.URL.Path, r.Header.Get(protocol.HeaderID), raw), fakeClock.Now(), key)
	w.WriteHeader(code)
	_, _ = w.Write(raw)
}

// finished waits until pr ends and returns it.
func finished(pr *privacyv1alpha1.PrivacyRequest) *privacyv1alpha1.PrivacyRequest {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		g.Expect(pr.Status.Phase).To(BeElementOf(privacyv1alpha1.RequestPhaseCompleted, privacyv1alpha1.RequestPhaseFailed),
			func() string { b, _ := json.MarshalIndent(pr.Status, "", "  "); return string(b) })
	}).Should(Succeed())
	return pr
}

func sourceEntry(pr *privacyv1alpha1.PrivacyRequest, name string) privacyv1alpha1.SourceStatus {
	GinkgoHelper()
	for _, s := range pr.Status.Sources {
		if s.Name == name {
			return s
		}
	}
	Fail("no source entry " + name)
	return privacyv1alpha1.SourceStatus{}
}

func condition(conds []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(conds, t)
}

// onlySourceCondition reads pr and returns condition t of its one source,
// failing g while there is none yet.
func onlySourceCondition(g Gomega, pr *privacyv1alpha1.PrivacyRequest, t string) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
	g.Expect(pr.Status.Sources).To(HaveLen(1))
	c := condition(pr.Status.Sources[0].Conditions, t)
	g.Expect(c).NotTo(BeNil())
	return c
}

// dispatchedRequest creates a Delete request for the single source of ns
// and waits until the source has accepted its job.
func dispatchedRequest(ns string) *privacyv1alpha1.PrivacyRequest {
	GinkgoHelper()
	pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
	Expect(k8sClient.Create(ctx, pr)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
		g.Expect(pr.Status.Sources).To(HaveLen(1))
		g.Expect(pr.Status.Sources[0].Phase).To(Equal(privacyv1alpha1.SourcePhaseDispatched))
	}).Should(Succeed())
	return pr
}

// expectStalled waits until obj (read again through conds) is Stalled with
// the given reason and a message holding want.
func expectStalled(obj client.Object, conds func() []metav1.Condition, reason, want string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		stalled := condition(conds(), privacyv1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Reason).To(Equal(reason))
		g.Expect(stalled.Message).To(ContainSubstring(want))
		g.Expect(condition(conds(), privacyv1alpha1.ConditionReconciling)).To(BeNil())
	}).Should(Succeed())
}

// eventReasons lists the reasons of the Events in namespace that match.
func eventReasons(g Gomega, namespace string, match func(corev1.Event) bool) []string {
	evs := &corev1.EventList{}
	g.Expect(k8sClient.List(ctx, evs, client.InNamespace(namespace))).To(Succeed())
	var reasons []string
	for _, e := range evs.Items {
		if match(e) {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}
