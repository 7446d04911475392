package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/callback"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// holding keeps Delete jobs open until the test ends.
func holding(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
	cfg.Async = true
	cfg.Delete = func(ctx context.Context, _ *protocol.Job) (datasource.Result, error) {
		<-ctx.Done()
		return datasource.Result{}, ctx.Err()
	}
}

func postCallback(jobID string, body []byte, header http.Header) int {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, callback.URL(op.callbackURL, jobID), bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	return resp.StatusCode
}

var _ = Describe("Callbacks", func() {
	It("refuses unknown, forged and replayed callbacks without touching status", func() {
		ns := newNamespace()
		src := newSource(ns, "held", holding)
		pr := dispatchedRequest(ns)
		jobID := pr.Status.Sources[0].JobID
		key, _ := protocol.ParseKey(src.secret)
		forger, _ := protocol.ParseKey(protocol.NewSecret())
		done, _ := json.Marshal(protocol.JobStatus{ID: jobID, Status: protocol.StatusCompleted, Result: &protocol.Result{Records: 99}})

		By("404 for a job the operator does not know")
		unknown, _ := json.Marshal(protocol.JobStatus{ID: "pr-unknown", Status: protocol.StatusCompleted})
		h := http.Header{}
		signCallback(h, "pr-unknown", unknown, key)
		Expect(postCallback("pr-unknown", unknown, h)).To(Equal(http.StatusNotFound))

		By("401 for a missing or forged signature")
		Expect(postCallback(jobID, done, http.Header{})).To(Equal(http.StatusUnauthorized))
		h = http.Header{}
		signCallback(h, jobID, done, forger)
		Expect(postCallback(jobID, done, h)).To(Equal(http.StatusUnauthorized))

		By("401 for a replayed message")
		running, _ := json.Marshal(protocol.JobStatus{ID: jobID, Status: protocol.StatusRunning})
		h = http.Header{}
		signCallback(h, jobID, running, key)
		Expect(postCallback(jobID, running, h)).To(Equal(http.StatusBadRequest), "validly signed but not final")
		Expect(postCallback(jobID, running, h)).To(Equal(http.StatusUnauthorized), "the same message again")

		By("leaving status alone and telling the DataSource's owners")
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources[0].Phase).To(Equal(privacyv1alpha1.SourcePhaseDispatched))
		}, time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			reasons := eventReasons(g, ns, func(e corev1.Event) bool {
				return e.InvolvedObject.Kind == "DataSource" && e.InvolvedObject.Name == "held"
			})
			g.Expect(reasons).To(ContainElement(privacyv1alpha1.ReasonCallbackRejected))
		}).Should(Succeed())

		By("accepting the genuine callback")
		h = http.Header{}
		signCallback(h, jobID, done, key)
		Expect(postCallback(jobID, done, h)).To(Equal(http.StatusNoContent))
		pr = finished(pr)
		Expect(*sourceEntry(pr, "held").Records).To(Equal(int64(99)))
	})

	It("polls a source whose callbacks do not arrive", func() {
		ns := newNamespace()
		src := newSource(ns, "unreachable-operator", func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Async = true
			cfg.CallbackAttempts = 1
			cfg.Client = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("network policy drops callbacks")
			})}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(src.httpRequests()).To(ContainElement("GET /jobs/" + sourceEntry(pr, "unreachable-operator").JobID))
	})
})

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// signCallback signs a callback for job id as a source does: over
// "POST /callbacks/{id}" and the body.
func signCallback(h http.Header, id string, body []byte, key protocol.Key) {
	GinkgoHelper()
	_, err := protocol.Sign(h, protocol.RequestPayload(http.MethodPost, protocol.PathCallbacks+"/"+id, body), fakeClock.Now(), key)
	Expect(err).NotTo(HaveOccurred())
}

// The three mistakes an outside implementer of docs/protocol.md made, each
// of which used to fail silently: the status now names each one exactly.
var _ = Describe("Mistakes a data source author makes", func() {
	It("names a capabilities document without requestTypes in the Ready condition", func() {
		ns := newNamespace()
		src := newSource(ns, "typos", func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			s.wrapper = func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == protocol.PathCapabilities {
						s.signedAnswer(w, r, http.StatusOK, map[string]any{"types": []string{"Delete"}, "identities": []string{"email"}}, nil)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
		})
		Eventually(func(g Gomega) {
			ds := &privacyv1alpha1.DataSource{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), ds)).To(Succeed())
			ready := condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonCapabilitiesMismatch))
			g.Expect(ready.Message).To(ContainSubstring(`no "requestTypes" field (found: identities, types)`))
		}).Should(Succeed())
	})

	It("names an unsigned error answer, and an error body that is not a string", func() {
		ns := newNamespace()
		unsigned := newSource(ns, "unsigned", func(s *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Retry.MaxAttempts = 1
			s.wrapper = func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost {
						w.Header().Set("Retry-After", "1")
						w.WriteHeader(http.StatusServiceUnavailable)
						_, _ = w.Write([]byte(`{"error":"busy"}`))
						return
					}
					next.ServeHTTP(w, r)
				})
			}
		})
		newSource(ns, "nested", func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			s.wrapper = func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost {
						s.signedAnswer(w, r, http.StatusUnprocessableEntity, map[string]any{"error": map[string]string{"message": "no such field"}}, nil)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		jobID := sourceEntry(pr, "unsigned").JobID
		Expect(sourceEntry(pr, "unsigned").Message).To(ContainSubstring("the answer to job " + jobID + " (POST /jobs) (HTTP 503) was not signed"))
		Expect(sourceEntry(pr, "nested").Message).To(ContainSubstring(`the error body should be {"error": "text"}`))
		Expect(unsigned.jobs()).To(BeEmpty())
	})
})
