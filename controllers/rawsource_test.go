package controllers_test

// A data source written from docs/protocol.md alone, with net/http and
// crypto/hmac: no SDK, no protocol package. It proves the operator speaks the
// documented protocol, so the SDK cannot hide a mistake on both sides.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

type rawSource struct {
	key    []byte
	secret string
	mu     sync.Mutex
	jobs   map[string]map[string]any // job id -> job as received
	final  map[string]map[string]any // job id -> final JobStatus, once done
	seen   map[string]bool           // webhook-ids
	errors []string                  // protocol violations seen
	// callbackErrors are failed callbacks (polling covers them).
	callbackErrors []string
}

// sign signs a message whose canonical line is line ("POST /callbacks/{id}"
// for a request, "{METHOD} {path} {request's webhook-id}" for an answer).
func (s *rawSource) sign(h http.Header, line string, body []byte) {
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	msgID := "msg_" + hex.EncodeToString(id)
	ts := strconv.FormatInt(fakeClock.Now().Unix(), 10)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(msgID + "." + ts + "." + line + "\n" + string(body)))
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// verify checks a request's signature over "{METHOD} {path}\n{body}".
func (s *rawSource) verify(h http.Header, line string, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing signature headers")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(unix, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("bad timestamp")
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + ts + "." + line + "\n" + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.seen[id] {
				return fmt.Errorf("replayed")
			}
			s.seen[id] = true
			return nil
		}
	}
	return fmt.Errorf("no matching signature")
}

// answer signs an answer to r: bound to its method, path and webhook-id.
func (s *rawSource) answer(w http.ResponseWriter, r *http.Request, code int, v any) {
	body := []byte{}
	if v != nil {
		body, _ = json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
	}
	s.sign(w.Header(), r.Method+" "+r.URL.Path+" "+r.Header.Get("webhook-id"), body)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func (s *rawSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := s.verify(r.Header, r.Method+" "+r.URL.Path, body); err != nil {
		s.mu.Lock()
		s.errors = append(s.errors, r.Method+" "+r.URL.Path+": "+err.Error())
		s.mu.Unlock()
		s.answer(w, r, http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/capabilities" {
		s.answer(w, r, http.StatusOK, map[string]any{
			"apiVersion": "privacyoperator.io/v1alpha1", "kind": "Capabilities",
			"requestTypes": []string{"Access", "Delete"}, "identities": []string{"email"}, "categories": []string{"support"},
		})
		return
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/jobs/") {
		id := strings.TrimPrefix(r.URL.Path, "/jobs/")
		s.mu.Lock()
		_, known := s.jobs[id]
		final := s.final[id]
		s.mu.Unlock()
		switch {
		case final != nil:
			s.answer(w, r, http.StatusOK, final)
		case known:
			s.answer(w, r, http.StatusAccepted, nil)
		default:
			s.answer(w, r, http.StatusNotFound, map[string]string{"error": "unknown job"})
		}
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/jobs" {
		s.answer(w, r, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	job := map[string]any{}
	if err := json.Unmarshal(body, &job); err != nil {
		s.answer(w, r, http.StatusBadRequest, map[string]string{"error": "not JSON"})
		return
	}
	id, _ := job["id"].(string)
	s.mu.Lock()
	_, known := s.jobs[id]
	s.jobs[id] = job
	s.mu.Unlock()
	if known {
		s.answer(w, r, http.StatusConflict, nil)
		return
	}
	final := map[string]any{
		"apiVersion": "privacyoperator.io/v1alpha1", "kind": "JobStatus", "id": id, "status": "Completed",
		"result": map[string]any{"records": 4, "data": map[string]any{"tickets": []int{7, 8, 9, 10}}},
	}
	if job["type"] == "Access" {
		s.mu.Lock()
		s.final[id] = final
		s.mu.Unlock()
		s.answer(w, r, http.StatusOK, final) // synchronous
		return
	}
	// Asynchronous: accept now, call back once the work is done.
	s.answer(w, r, http.StatusAccepted, nil)
	callbackURL, _ := job["callbackURL"].(string)
	go func() {
		time.Sleep(50 * time.Millisecond) // the work itself
		s.mu.Lock()
		s.final[id] = final
		s.mu.Unlock()
		body, _ := json.Marshal(final)
		req, _ := http.NewRequest(http.MethodPost, callbackURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.sign(req.Header, "POST /callbacks/"+id, body)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("callback answered %d", resp.StatusCode)
			}
		}
		if err != nil {
			// The operator's poll still finds the status.
			s.mu.Lock()
			s.callbackErrors = append(s.callbackErrors, err.Error())
			s.mu.Unlock()
		}
	}()
}

var _ = Describe("A data source written from docs/protocol.md alone", func() {
	It("becomes Ready, and serves Access synchronously and Delete through a callback", func() {
		ns := newNamespace()
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		raw := &rawSource{key: key, secret: "whsec_" + base64.StdEncoding.EncodeToString(key),
			jobs: map[string]map[string]any{}, final: map[string]map[string]any{}, seen: map[string]bool{}}
		srv := httptest.NewServer(raw)
		DeferCleanup(srv.Close)

		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "tickets-signing", Namespace: ns},
			StringData: map[string]string{"signingSecret": raw.secret},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &privacyv1alpha1.DataSource{
			ObjectMeta: metav1.ObjectMeta{Name: "tickets", Namespace: ns},
			Spec: privacyv1alpha1.DataSourceSpec{
				Endpoint:         privacyv1alpha1.Endpoint{URL: srv.URL, Insecure: true},
				SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "tickets-signing"},
				RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete},
				Identities:       []privacyv1alpha1.IdentityType{"email"},
			},
		})).To(Succeed())

		ds := &privacyv1alpha1.DataSource{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tickets"}, ds)).To(Succeed())
			g.Expect(condition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(ds.Status.Capabilities.Categories).To(Equal([]privacyv1alpha1.DataCategory{"support"}))
		}).Should(Succeed())

		for _, t := range []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete} {
			pr := request(ns, t, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			pr = finished(pr)
			Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted), string(t))
			Expect(*sourceEntry(pr, "tickets").Records).To(Equal(int64(4)))

			raw.mu.Lock()
			job := raw.jobs[sourceEntry(pr, "tickets").JobID]
			raw.mu.Unlock()
			Expect(job).To(HaveKeyWithValue("apiVersion", "privacyoperator.io/v1alpha1"))
			Expect(job).To(HaveKeyWithValue("kind", "Job"))
			Expect(job).To(HaveKeyWithValue("type", string(t)))
			Expect(job).To(HaveKeyWithValue("subject", map[string]any{"identities": map[string]any{"email": adaEmail}}))
			Expect(job).To(HaveKey("deadline"))
			Expect(job).To(HaveKey("callbackURL"))
			Expect(job["request"]).To(HaveKeyWithValue("uid", string(pr.UID)))
		}
		Expect(raw.errors).To(BeEmpty(), "every message from the operator is signed as documented")
	})
})
