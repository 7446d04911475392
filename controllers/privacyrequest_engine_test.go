package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/controllers"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// async makes a source answer 202 and finish through a callback.
func async(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) { cfg.Async = true }

// identities sets the identity types a source declares.
func identities(types ...privacyv1alpha1.IdentityType) sourceOption {
	return func(_ *source, cfg *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		spec.Identities = types
		cfg.Identities = nil
		for _, t := range types {
			cfg.Identities = append(cfg.Identities, string(t))
		}
	}
}

// failingFirst answers the first n job deliveries with code (signed, with a
// Retry-After of one second for 429 and 503).
func failingFirst(n int32, code int) sourceOption {
	return func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
		var seen atomic.Int32
		s.wrapper = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && seen.Add(1) <= n {
					hdr := map[string]string{}
					if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
						hdr["Retry-After"] = "1"
					}
					s.signedAnswer(w, r, code, protocol.Error{Error: "try again"}, hdr)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
}

// answeringAfter holds each job delivery for d before the source runs it.
func answeringAfter(d time.Duration) sourceOption {
	return func(s *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		spec.Endpoint.Timeout = &metav1.Duration{Duration: d + 5*time.Second}
		s.wrapper = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					time.Sleep(d) // the source is slow to answer; not a wait in the test
				}
				next.ServeHTTP(w, r)
			})
		}
	}
}

// retryingAfter answers the first n job deliveries 503 with the given
// Retry-After value and records when each delivery arrived.
func retryingAfter(n int32, retryAfter string, arrivals *[]time.Time, mu *sync.Mutex) sourceOption {
	return func(s *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		spec.Retry.MaxAttempts = n + 1
		spec.Retry.MaxBackoff = &metav1.Duration{Duration: 3 * time.Second}
		var seen atomic.Int32
		s.wrapper = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					next.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				*arrivals = append(*arrivals, time.Now())
				mu.Unlock()
				if seen.Add(1) <= n {
					s.signedAnswer(w, r, http.StatusServiceUnavailable, protocol.Error{Error: "busy"}, map[string]string{"Retry-After": retryAfter})
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
}

var _ = Describe("PrivacyRequest engine", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("delivers each job once: a pass working from a stale view sends nothing", func() {
		// A pass that read the request before the previous pass's status
		// reached the cache sees a delivery as open yet unknown to the
		// dispatcher; unless its view is verified it re-sends a finished job.
		billing := newSource(ns, "billing")
		var prs []*privacyv1alpha1.PrivacyRequest
		for range 10 {
			pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			prs = append(prs, pr)
		}
		for _, pr := range prs {
			Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		}
		posts := func() int {
			n := 0
			for _, r := range billing.httpRequests() {
				if r == "POST "+protocol.PathJobs {
					n++
				}
			}
			return n
		}
		Consistently(posts, 2*time.Second, 100*time.Millisecond).Should(Equal(len(prs)), "jobs delivered more than once")
	})

	It("stores answers that arrive close together in one status write", func() {
		// Three sources answer 0, 150 and 300 ms after delivery: without
		// coalescing each answer is its own write.
		for _, src := range []*source{
			newSource(ns, "a"),
			newSource(ns, "b", answeringAfter(150*time.Millisecond)),
			newSource(ns, "c", answeringAfter(300*time.Millisecond)),
		} {
			ready(src.ds)
		}
		w, err := k8sClient.Watch(ctx, &privacyv1alpha1.PrivacyRequestList{}) // requests are cluster-scoped
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		writes := 0 // after the create: the dispatch, then the answers
		for phase := privacyv1alpha1.RequestPhase(""); phase != privacyv1alpha1.RequestPhaseCompleted; {
			select {
			case ev := <-w.ResultChan():
				got, ok := ev.Object.(*privacyv1alpha1.PrivacyRequest)
				Expect(ok).To(BeTrue(), "watch event %v", ev)
				if got.Name != pr.Name {
					continue // another spec's request
				}
				if ev.Type == watch.Modified {
					writes++
				}
				phase = got.Status.Phase
			case <-time.After(15 * time.Second):
				Fail(fmt.Sprintf("the request did not complete; %d writes seen", writes))
			}
		}
		later := func() []string {
			var out []string
			for {
				select {
				case ev := <-w.ResultChan():
					if got, ok := ev.Object.(*privacyv1alpha1.PrivacyRequest); ok && got.Name == pr.Name {
						out = append(out, fmt.Sprintf("%s %s receipt=%t", ev.Type, got.Status.Phase, got.Status.Receipt != nil))
					}
				default:
					return out
				}
			}
		}
		// The receipt is written after the finish is stored, and its
		// reference recorded in one more write.
		Eventually(later).Should(Equal([]string{"MODIFIED Completed receipt=true"}), "the receipt's write")
		Consistently(later, time.Second, 50*time.Millisecond).Should(BeEmpty(), "writes after the receipt")
		Expect(writes).To(Equal(2), "status writes after the create, before the receipt")
	})

	It("does not hold a fast source's answer back for a slow one beyond the window", func() {
		ready(newSource(ns, "fast").ds)
		ready(newSource(ns, "slow", answeringAfter(4*time.Second)).ds)
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		phases := func(g Gomega) map[string]privacyv1alpha1.SourcePhase {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			out := map[string]privacyv1alpha1.SourcePhase{}
			for _, src := range pr.Status.Sources {
				out[src.Name] = src.Phase
			}
			return out
		}
		// The slow source answers after 4 s; the fast one shows well before.
		Eventually(phases, 3*time.Second, 50*time.Millisecond).Should(Equal(map[string]privacyv1alpha1.SourcePhase{
			"fast": privacyv1alpha1.SourcePhaseCompleted, "slow": privacyv1alpha1.SourcePhasePending, // delivered, not answered
		}))
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})

	It("completes an Access request at every source and writes a checksummed export", func() {
		billing := newSource(ns, "billing")
		crm := newSource(ns, "crm", async)
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())

		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(pr.Status.Summary).To(Equal(&privacyv1alpha1.RequestSummary{Total: 2, Succeeded: 2}))
		Expect(pr.Status.Progress).To(Equal("2/2"))
		Expect(pr.Status.StartedAt).NotTo(BeNil())
		Expect(pr.Status.CompletedAt).NotTo(BeNil())
		for _, name := range []string{"billing", "crm"} {
			e := sourceEntry(pr, name)
			Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted), name)
			Expect(e.Records).To(Equal(ptrTo[int64](1)), name)
			Expect(e.Conditions).To(BeEmpty(), "%s: a job that succeeded is told by its phase, records and message", name)
		}
		Expect(sourceEntry(pr, "crm").Attempts).To(Equal(int32(1)), "the async source was delivered to once")
		Expect(billing.jobRuns()).To(HaveLen(1))
		Expect(crm.jobRuns()).To(HaveLen(1))
		Expect(kstatusOf(Default, pr)).To(Equal(status.CurrentStatus))

		By("pointing status.export at a document whose checksum matches")
		Expect(pr.Status.Export).NotTo(BeNil())
		data, err := os.ReadFile(pr.Status.Export.Location)
		Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(data)
		Expect(pr.Status.Export.SHA256).To(Equal(hex.EncodeToString(sum[:])))
		Expect(pr.Status.Export.Bytes).To(Equal(int64(len(data))))
		var doc struct {
			Manifest struct {
				Sources []struct {
					Name    string `json:"name"`
					Records int64  `json:"records"`
					SHA256  string `json:"sha256"`
				} `json:"sources"`
			} `json:"manifest"`
			Data map[string]map[string]string `json:"data"`
		}
		Expect(json.Unmarshal(data, &doc)).To(Succeed())
		Expect(doc.Manifest.Sources).To(HaveLen(2))
		Expect(doc.Data[ns+"/billing"]).To(Equal(map[string]string{"source": "billing"}))
		Expect(doc.Data[ns+"/crm"]).To(Equal(map[string]string{"source": "crm"}))

		By("deleting the export when it expires")
		location := pr.Status.Export.Location
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Export).To(BeNil())
			_, err := os.Stat(location)
			g.Expect(os.IsNotExist(err)).To(BeTrue(), "export file still on disk")
		}).WithTimeout(exportTTL + 10*time.Second).Should(Succeed())
	})

	DescribeTable("sends each request type with its payload",
		func(t privacyv1alpha1.RequestType, check func(protocol.Job)) {
			src := newSource(ns, "shop")
			pr := request(ns, t, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
			jobs := src.jobs()
			Expect(jobs).To(HaveLen(1))
			job := jobs[0]
			Expect(job.Type).To(Equal(protocol.JobType(t)))
			Expect(job.ID).To(Equal(sourceEntry(pr, "shop").JobID))
			Expect(job.Request).To(Equal(protocol.RequestRef{Kind: "PrivacyRequest", Name: pr.Name, UID: string(pr.UID)}))
			Expect(job.Deadline).NotTo(BeNil())
			Expect(job.Deadline.Equal(pr.Status.DueAt.Time)).To(BeTrue())
			check(job)
		},
		Entry("Access", privacyv1alpha1.RequestTypeAccess, func(j protocol.Job) { Expect(j.Corrections).To(BeEmpty()) }),
		Entry("Delete", privacyv1alpha1.RequestTypeDelete, func(j protocol.Job) { Expect(j.OptOut).To(BeNil()) }),
		Entry("Correct", privacyv1alpha1.RequestTypeCorrect, func(j protocol.Job) {
			Expect(j.Corrections).To(Equal([]protocol.Correction{{Field: "email", Value: "ada.lovelace@example.com"}}))
		}),
		Entry("OptOut with the default scope", privacyv1alpha1.RequestTypeOptOut, func(j protocol.Job) {
			Expect(j.OptOut).To(Equal(&protocol.OptOut{Scopes: []string{"email-marketing"}}))
		}),
	)

	It("sends each source only the identity types it declared", func() {
		byEmail := newSource(ns, "newsletter")
		byID := newSource(ns, "warehouse", identities("userId"))
		byBoth := newSource(ns, "support", identities("email", "phone"))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))

		Expect(byEmail.jobs()[0].Subject.Identities).To(Equal(map[string]string{"email": adaEmail}))
		Expect(byID.jobs()[0].Subject.Identities).To(Equal(map[string]string{"userId": "1815"}))
		Expect(byBoth.jobs()[0].Subject.Identities).To(Equal(map[string]string{"email": adaEmail}))
		missing := condition(sourceEntry(pr, "support").Conditions, privacyv1alpha1.SourceConditionIdentitiesComplete)
		Expect(missing.Status).To(Equal(metav1.ConditionFalse))
		Expect(missing.Message).To(ContainSubstring("phone"))

		// The account says the search was partial: the entry, the
		// summary, Ready's message and the receipt.
		Expect(sourceEntry(pr, "support").MissingIdentities).To(Equal([]string{"phone"}))
		Expect(sourceEntry(pr, "newsletter").MissingIdentities).To(BeEmpty())
		Expect(pr.Status.Summary.PartialSearch).To(Equal(int32(1)))
		Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady).Message).To(ContainSubstring(
			"1 searched without every identity type they declare: " + ns + "/support (without phone)"))
		Eventually(func(g Gomega) {
			rec := receiptOfUID(g, string(pr.UID))
			g.Expect(rec).NotTo(BeNil())
			for _, src := range rec.Sources {
				if src.Name == "support" {
					g.Expect(src.MissingIdentities).To(Equal([]string{"phone"}))
				} else {
					g.Expect(src.MissingIdentities).To(BeEmpty(), src.Name)
				}
			}
		}).Should(Succeed())
	})

	It("fails a source that needs identities the request lacks, and names it", func() {
		newSource(ns, "ok").observed()
		newSource(ns, "github", identities("githubLogin")).observed()
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		Expect(sourceEntry(pr, "ok").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted), "a failure must not hide the successes")
		gh := sourceEntry(pr, "github")
		Expect(gh.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(condition(gh.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonMissingIdentities))
		stalled := condition(pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
		Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		Expect(stalled.Message).To(ContainSubstring(ns + "/github"))
		Expect(kstatusOf(Default, pr)).To(Equal(status.FailedStatus))
	})

	It("retries 429 after Retry-After and 5xx with backoff, then completes", func() {
		limited := newSource(ns, "limited", failingFirst(1, http.StatusTooManyRequests))
		flaky := newSource(ns, "flaky", failingFirst(2, http.StatusInternalServerError))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(sourceEntry(pr, "limited").Attempts).To(Equal(int32(2)))
		Expect(sourceEntry(pr, "flaky").Attempts).To(Equal(int32(3)))
		Expect(limited.jobRuns()).To(HaveLen(1))
		Expect(flaky.jobRuns()).To(HaveLen(1))
	})

	It("never retries before Retry-After (stored times round up), and caps it at maxBackoff", func() {
		var mu sync.Mutex
		arrivals := map[string]*[]time.Time{"one": {}, "two": {}, "huge": {}}
		newSource(ns, "one", retryingAfter(2, "1", arrivals["one"], &mu))
		newSource(ns, "two", retryingAfter(1, "2", arrivals["two"], &mu))
		// 246 years: clamped to the source's maxBackoff of 3 s.
		newSource(ns, "huge", retryingAfter(1, "99999999999", arrivals["huge"], &mu))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		mu.Lock()
		defer mu.Unlock()
		for name, want := range map[string]time.Duration{"one": time.Second, "two": 2 * time.Second, "huge": 0} {
			times := *arrivals[name]
			Expect(times).To(HaveLen(int(sourceEntry(pr, name).Attempts)), name)
			for i := 1; i < len(times); i++ {
				gap := times[i].Sub(times[i-1])
				Expect(gap).To(BeNumerically(">=", want), "%s: retry %d came %v after the previous delivery; Retry-After asked for %v", name, i, gap, want)
				// Well below the 246 years asked for; loose enough for a busy machine.
				Expect(gap).To(BeNumerically("<", 10*time.Second), "%s: Retry-After is capped at maxBackoff (3s)", name)
			}
		}
	})

	It("signs for each DataSource with its own key when two share one Secret under different keys", func() {
		shared := func(key string) sourceOption {
			return func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
				spec.SigningSecretRef = privacyv1alpha1.SecretKeySelector{Name: "shared-signing", Key: key}
			}
		}
		a := newSource(ns, "team-a", shared("a"))
		b := newSource(ns, "team-b", shared("b"))
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "shared-signing", Namespace: ns},
			StringData: map[string]string{"a": a.secret, "b": b.secret},
		})).To(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted), "each source verified jobs signed with its own key")
		Expect(a.jobs()).To(HaveLen(1))
		Expect(b.jobs()).To(HaveLen(1))
	})

	It("leaves no dispatcher entry for a job that ended by exhausted retries", func() {
		newSource(ns, "broken", failingFirst(100, http.StatusInternalServerError), func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Retry.MaxAttempts = 2
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		e := sourceEntry(pr, "broken")
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonRetriesExhausted))
		owner := dispatch.Owner{Kind: controllers.KindPrivacyRequest, NamespacedName: client.ObjectKeyFromObject(pr)}
		Eventually(func() bool {
			_, registered := op.dispatcher.Lookup(e.JobID)
			_, outcome := op.dispatcher.Outcomes(owner)[e.JobID]
			return registered || outcome
		}).Should(BeFalse(), "a late callback for the ended job is refused and nothing is kept for it")
	})

	It("stalls a request whose selector admission let through but does not parse, until it is fixed", func() {
		newSource(ns, "picky")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		good := pr.Spec.DataSourceSelector
		pr.Spec.DataSourceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Roughly", Values: []string{"gold"}}}}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		expectStalled(pr, func() []metav1.Condition { return pr.Status.Conditions },
			privacyv1alpha1.ReasonInvalidSpec, "spec.dataSourceSelector cannot be used")

		update(pr, func(p *privacyv1alpha1.PrivacyRequest) { p.Spec.DataSourceSelector = good })
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil())
	})

	It("fails a source that refuses the job with 4xx, keeping its message", func() {
		newSource(ns, "strict", failingFirst(100, http.StatusUnprocessableEntity))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		e := sourceEntry(pr, "strict")
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(e.Attempts).To(Equal(int32(1)), "a permanent refusal is not retried")
		Expect(e.Message).To(ContainSubstring("try again"))
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonRefused))
	})

	It("keeps a finished request's account whole through later passes (the cache holds it without its sources)", func() {
		newSource(ns, "fine")
		newSource(ns, "strict", failingFirst(100, http.StatusUnprocessableEntity))
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		want := pr.Status.DeepCopy()

		By("waking the finished request for more passes")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr); err != nil {
				return err
			}
			pr.Annotations = map[string]string{"test/poke": "1"}
			return k8sClient.Update(ctx, pr)
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
			g.Expect(pr.Status.Sources).To(Equal(want.Sources))
			g.Expect(pr.Status.Summary).To(Equal(want.Summary))
			g.Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionReady).Message).To(Equal(condition(want.Conditions, privacyv1alpha1.ConditionReady).Message))
		}, 2*time.Second).Should(Succeed())
	})

	It("gives up on a source that times out after its retries", func() {
		newSource(ns, "slow", func(s *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Endpoint.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
			s.wrapper = func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPost {
						next.ServeHTTP(w, r) // the readiness probe still answers
						return
					}
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				})
			}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		e := sourceEntry(finished(pr), "slow")
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(e.Attempts).To(Equal(int32(3)))
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonRetriesExhausted))
		Expect(e.Message).To(ContainSubstring("timed out"))
	})

	It("fails a source that never finishes once the due date passes, and reports the request overdue", func() {
		never := newSource(ns, "never", async, func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Delete = func(ctx context.Context, _ *protocol.Job) (datasource.Result, error) {
				<-ctx.Done()
				return datasource.Result{}, ctx.Err()
			}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		due := metav1.NewTime(time.Now().Add(3 * time.Second))
		pr.Spec.Deadline = &due
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		e := sourceEntry(pr, "never")
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonDeadlineExceeded))
		Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionOverdue).Status).To(Equal(metav1.ConditionTrue))
		Eventually(never.httpRequests).Should(ContainElement("DELETE /jobs/"+e.JobID), "the open job is cancelled at the source")
	})

	It("fails an Access source whose answer exceeds the size limit", func() {
		newSource(ns, "huge", func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Access = func(context.Context, *protocol.Job) (datasource.Result, error) {
				return datasource.Result{Records: 1, Data: map[string]string{"blob": strings.Repeat("x", 2*maxResultBytes)}}, nil
			}
		})
		newSource(ns, "small")
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		e := sourceEntry(pr, "huge")
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonResultTooLarge))
		Expect(sourceEntry(pr, "small").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		Expect(pr.Status.Export).NotTo(BeNil(), "the sources that answered still get exported")
	})

	It("holds dispatch while suspended and starts when resumed", func() {
		src := newSource(ns, "held")
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		pr.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionSuspended)).NotTo(BeNil())
			g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhasePending))
		}).Should(Succeed())
		Expect(src.jobRuns()).To(BeEmpty())

		update(pr, func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Suspend = false })
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(condition(pr.Status.Conditions, privacyv1alpha1.ConditionSuspended)).To(BeNil())
	})

	It("cancels open jobs when a request is deleted", func() {
		release := make(chan struct{})
		DeferCleanup(func() { close(release) })
		src := newSource(ns, "busy", async, func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Delete = func(ctx context.Context, _ *protocol.Job) (datasource.Result, error) {
				select {
				case <-ctx.Done():
				case <-release:
				}
				return datasource.Result{}, ctx.Err()
			}
		})
		pr := dispatchedRequest(ns)
		jobID := pr.Status.Sources[0].JobID
		Expect(pr.Finalizers).To(ContainElement(privacyv1alpha1.FinalizerCancelJobs), "a job open at a source holds the request until it is cancelled")

		Expect(k8sClient.Delete(ctx, pr)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue(), "the request is gone")
		Eventually(src.httpRequests).Should(ContainElement("DELETE /jobs/" + jobID))
	})

	It("deletes a finished request after ttlSecondsAfterFinished", func() {
		newSource(ns, "quick")
		pr := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		// Long enough to see it finished first: TTL counts from the pass
		// that finished it, and on a loaded machine its status write can
		// land a second later (CI saw a 1 s TTL delete it unseen).
		pr.Spec.TTLSecondsAfterFinished = ptrTo[int32](5)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(pr.Finalizers).To(BeEmpty(), "a request whose sources answered at once has nothing to cancel: no finalizer, no write for it")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue(), "the finished request is deleted after its TTL")
	})

	It("deletes a request with ttlSecondsAfterFinished 0 as soon as it finished, as batch/v1 Job does; unset keeps it under a default of 0", func() {
		src := newSource(ns, "quick")
		now := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		now.Spec.TTLSecondsAfterFinished = ptrTo[int32](0)
		Expect(k8sClient.Create(ctx, now)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(now), &privacyv1alpha1.PrivacyRequest{}))
		}).Should(BeTrue(), "ttlSecondsAfterFinished: 0 deletes the finished request")
		Expect(src.jobs()).To(HaveLen(1), "it was carried out before it was deleted")

		kept := request(ns, privacyv1alpha1.RequestTypeOptOut, ada)
		Expect(k8sClient.Create(ctx, kept)).To(Succeed())
		Expect(finished(kept).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(kept), &privacyv1alpha1.PrivacyRequest{})
		}, 2*time.Second).Should(Succeed(), "unset, with the suite's --request-ttl of 0, keeps the request")
	})

	It("never writes the subject's identities or corrections into logs, Events, conditions or receipts", func() {
		newSource(ns, "audit", async)
		pr := request(ns, privacyv1alpha1.RequestTypeCorrect, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))

		secrets := []string{adaEmail, "ada.lovelace@example.com"}
		statusJSON, err := json.Marshal(pr.Status)
		Expect(err).NotTo(HaveOccurred())
		events, err := env.Kubectl("get", "events", "-A", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(ContainSubstring(pr.Name), "the Events of the run are there to inspect")
		// Every receipt written so far, this request's included.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Receipt).NotTo(BeNil())
		}).Should(Succeed())
		var stored strings.Builder
		names, err := receipts.List(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		for _, n := range names {
			raw, err := receipts.Get(ctx, n)
			Expect(err).NotTo(HaveOccurred())
			stored.Write(raw)
		}
		Expect(stored.String()).To(ContainSubstring(string(pr.UID)), "the receipts are there to inspect")
		for _, s := range secrets {
			Expect(string(logs.Bytes())).NotTo(ContainSubstring(s), "logs")
			Expect(events).NotTo(ContainSubstring(s), "Events")
			Expect(string(statusJSON)).NotTo(ContainSubstring(s), "status")
			Expect(stored.String()).NotTo(ContainSubstring(s), "receipts")
		}
	})

	It("reads identities from a labelled Secret in a subject namespace, only its identity-type keys", func() {
		src := newSource(ns, "vault", identities("email"))
		name := "subject-" + ns
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: subjectNamespace,
				Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: map[string]string{"email": adaEmail, "userId": "1815", "tls.crt": "not an identity"},
		})).To(Succeed())
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, nil)
		pr.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjectNamespace, Name: name}}
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Expect(src.jobs()[0].Subject.Identities).To(Equal(map[string]string{"email": adaEmail}))
	})

	It("refuses a subject Secret outside the subject namespaces or without the label, without telling whether it exists", func() {
		// A tenant who may edit ns registers a source that declares the
		// key names of another team's Secrets as identity types.
		src := newSource(ns, "exfil", identities("token", "signingSecret"))
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: ns, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			StringData: map[string]string{"token": "victim-token-value", "signingSecret": "victim-signing-value"},
		})).To(Succeed())
		unlabelled := "unlabelled-" + ns
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: unlabelled, Namespace: subjectNamespace},
			StringData: map[string]string{"token": "victim-token-value"},
		})).To(Succeed())

		messages := map[string]string{}
		for name, ref := range map[string]privacyv1alpha1.NamespacedSecretReference{
			"other-namespace": {Namespace: ns, Name: "victim"},
			"unlabelled":      {Namespace: subjectNamespace, Name: unlabelled},
			"missing":         {Namespace: subjectNamespace, Name: "no-such-secret"},
			"missing-other":   {Namespace: ns, Name: "no-such-secret"},
		} {
			pr := request(ns, privacyv1alpha1.RequestTypeAccess, nil)
			pr.Spec.Subject = privacyv1alpha1.Subject{SecretRef: &ref}
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			Eventually(func(g Gomega) {
				c := onlySourceCondition(g, pr, privacyv1alpha1.SourceConditionDispatched)
				g.Expect(c.Reason).To(Equal(privacyv1alpha1.ReasonSubjectSecretRefused), name)
				messages[name] = strings.ReplaceAll(c.Message, ref.Namespace+"/"+ref.Name, "<ref>")
				// The request says why it waits, and a person is told.
				g.Expect(readyOf(g, pr).Reason).To(Equal(privacyv1alpha1.ReasonSubjectSecretRefused), name)
				g.Expect(warningsAbout(g, pr)).To(ContainElement(privacyv1alpha1.ReasonSubjectSecretRefused), name)
			}).Should(Succeed())
		}
		Expect(messages["missing"]).To(Equal(messages["unlabelled"]), "a missing and an unlabelled Secret read the same")
		Expect(messages["missing-other"]).To(Equal(messages["other-namespace"]), "a missing and an existing Secret elsewhere read the same")
		Expect(messages["missing"]).To(ContainSubstring(privacyv1alpha1.LabelSubjectSecret), "the message says how to fix it")
		Expect(src.jobs()).To(BeEmpty(), "nothing was sent")
	})

	It("holds jobs for a suspended DataSource and fails the entry of a deleted one", func() {
		paused := newSource(ns, "paused", func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Suspend = true
		})
		gone := newSource(ns, "gone", func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
			spec.Suspend = true
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.Sources).To(HaveLen(2))
			g.Expect(condition(sourceEntry(pr, "paused").Conditions, privacyv1alpha1.SourceConditionDispatched)).To(
				HaveField("Reason", privacyv1alpha1.ReasonSourceSuspended))
		}).Should(Succeed())
		Expect(paused.jobRuns()).To(BeEmpty())

		Expect(k8sClient.Delete(ctx, gone.ds)).To(Succeed())
		// update retries: the DataSource controller writes status meanwhile.
		update(paused.ds, func(ds *privacyv1alpha1.DataSource) { ds.Spec.Suspend = false })

		pr = finished(pr)
		Expect(sourceEntry(pr, "paused").Phase).To(Equal(privacyv1alpha1.SourcePhaseCompleted))
		g := sourceEntry(pr, "gone")
		Expect(g.Phase).To(Equal(privacyv1alpha1.SourcePhaseFailed))
		Expect(condition(g.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonSourceDeleted))
	})

	It("counts a source that holds nothing on the subject as a success", func() {
		newSource(ns, "empty", func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Delete = func(context.Context, *protocol.Job) (datasource.Result, error) {
				return datasource.Result{NotFound: true}, nil
			}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		e := sourceEntry(pr, "empty")
		Expect(e.Phase).To(Equal(privacyv1alpha1.SourcePhaseNotFound))
		Expect(e.Conditions).To(BeEmpty(), "NotFound is a success, told by the phase")
		Expect(pr.Status.Summary.Succeeded).To(Equal(int32(1)))
	})

	It("works through a signing key rotation", func() {
		oldSecret := protocol.NewSecret()
		// The Secret holds the old and the new key; the source already
		// knows only the new one.
		newSource(ns, "rotated", func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			s.secretValue = oldSecret + " " + s.secret
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})

	It("holds a job while its DataSource is not Ready and sends it once it is", func() {
		src := newSource(ns, "misconfigured", func(s *source, _ *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			s.secretValue = "not-a-signing-secret"
		})
		pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Eventually(func(g Gomega) {
			held := onlySourceCondition(g, pr, privacyv1alpha1.SourceConditionDispatched)
			g.Expect(held.Reason).To(Equal(privacyv1alpha1.ReasonSourceNotReady))
			g.Expect(held.Message).To(ContainSubstring(privacyv1alpha1.ReasonInvalidSecret))
		}).Should(Succeed())
		Expect(src.jobRuns()).To(BeEmpty())

		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "misconfigured-signing"}, secret)).To(Succeed())
		secret.Data = map[string][]byte{"signingSecret": []byte(src.secret)}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
	})

	It("counts open jobs on the DataSource, and none once the request finished", func() {
		release := make(chan struct{})
		src := newSource(ns, "busy", async, func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.Delete = func(context.Context, *protocol.Job) (datasource.Result, error) {
				<-release
				return datasource.Result{Records: 1}, nil
			}
		})
		pr := dispatchedRequest(ns)
		activeJobs := func(g Gomega) int32 {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			return src.ds.Status.ActiveJobs
		}
		Eventually(activeJobs).Should(Equal(int32(1)))
		close(release)
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Eventually(activeJobs).Should(Equal(int32(0)))
	})

	It("counts open jobs on the DataSource and fails the entry when the DataSource is deleted", func() {
		src := newSource(ns, "doomed", holding)
		pr := dispatchedRequest(ns)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src.ds), src.ds)).To(Succeed())
			g.Expect(src.ds.Status.ActiveJobs).To(Equal(int32(1)))
		}).Should(Succeed())

		Expect(k8sClient.Delete(ctx, src.ds)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseFailed))
		e := sourceEntry(pr, "doomed")
		Expect(condition(e.Conditions, privacyv1alpha1.SourceConditionCompleted).Reason).To(Equal(privacyv1alpha1.ReasonSourceDeleted))
	})
})

func ptrTo[T any](v T) *T { return &v }

var _ = Describe("Export sweep", func() {
	It("removes the exports of requests that no longer exist and old unfiled spool data, and keeps the rest", func() {
		ns := newNamespace()
		newSource(ns, "kept")
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Export).NotTo(BeNil())

		store := export.DirStore{Dir: GinkgoT().TempDir()}
		Expect(store.WritePart(ctx, string(pr.UID), "a_b", []byte(`{}`))).To(Succeed())
		Expect(store.WritePart(ctx, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "a_b", []byte(`{"x":1}`))).To(Succeed())
		By("keeping what the operator did not write: a folder not named like a request's, or one holding a file of its own")
		Expect(store.WritePart(ctx, "not-a-uid", "a_b", []byte(`{"x":1}`))).To(Succeed())
		stray := "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
		Expect(store.WritePart(ctx, stray, "a_b", []byte(`{"x":1}`))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(store.Dir, stray, "notes.txt"), []byte("not the operator's"), 0o600)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(store.Dir, "backups"), 0o700)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(store.Dir, "backups", "db.dump"), []byte("not the operator's"), 0o600)).To(Succeed())
		old, err := store.Put("data", []byte(`{"old":true}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Chtimes(old, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour))).To(Succeed())
		fresh, err := store.Put("data", []byte(`{"fresh":true}`))
		Expect(err).NotTo(HaveOccurred())

		sweeper := &controllers.ExportSweeper{Reader: k8sClient, Store: store, Log: logf.Log}
		Expect(sweeper.Sweep(ctx)).To(Succeed())
		spool := &controllers.SpoolSweeper{Reader: k8sClient, Store: store, Log: logf.Log}
		Expect(spool.Sweep(ctx)).To(Succeed())
		uids, err := store.Requests(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(uids).To(ConsistOf(string(pr.UID), stray), "the orphan is gone, the live request's export stays, and so does the folder with a file the operator did not write")
		Expect(filepath.Join(store.Dir, "not-a-uid", "parts", "a_b.json")).To(BeAnExistingFile())
		Expect(filepath.Join(store.Dir, "backups", "db.dump")).To(BeAnExistingFile())
		Expect(old).NotTo(BeAnExistingFile())
		Expect(fresh).To(BeAnExistingFile())
	})
})
