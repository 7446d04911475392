package drp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	code := 1
	if k8s, err = client.New(env.Config, client.Options{Scheme: scheme}); err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "privacy-operator-system"}})
	}
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

const business = "example-shop"

// agent is a registered agent with its signing key.
type agent struct {
	id   string
	priv ed25519.PrivateKey
	srv  *httptest.Server
	tok  string
}

func register(t *testing.T, srv *httptest.Server, id string) *agent {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	aa := &privacyv1alpha1.AuthorizedAgent{ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(strings.ReplaceAll(id, "_", "-"))},
		Spec: privacyv1alpha1.AuthorizedAgentSpec{AgentID: id, VerifyKey: base64.StdEncoding.EncodeToString(pub), CallbackHosts: []string{"agent.example.com"}}}
	if err := k8s.Create(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), aa) })
	return &agent{id: id, priv: priv, srv: srv}
}

// sign makes a signed body as agents do: JSON, signature first, base64.
func (a *agent) sign(fields map[string]any, envelope bool) string {
	if envelope {
		now := time.Now().UTC()
		fields["agent-id"], fields["business-id"], fields["drp.version"] = a.id, business, "1.0"
		fields["issued-at"], fields["expires-at"] = now.Format(time.RFC3339), now.Add(10*time.Minute).Format(time.RFC3339)
	}
	msg, _ := json.Marshal(fields)
	return base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, msg), msg...))
}

func (a *agent) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	if a.tok != "" {
		req.Header.Set("Authorization", "Bearer "+a.tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (a *agent) pair(t *testing.T) {
	t.Helper()
	code, out := a.call(t, "POST", "/v1/agent/"+a.id, a.sign(map[string]any{}, true))
	if code != http.StatusOK || out["agent-id"] != a.id || out["token"] == "" {
		t.Fatalf("pairing: %d %v", code, out)
	}
	a.tok = out["token"].(string)
}

func newServer(t *testing.T, with ...func(*drp.Server)) *httptest.Server {
	s := &drp.Server{Client: k8s, Agents: k8s, BusinessID: business, APIBase: "https://privacy.example.com",
		SubjectNamespace: "privacy-operator-system", Identities: map[string]string{"email": "email", "phone_number": "phone"}, Log: logr.Discard(),
		SealAddress: func(email string) (string, error) { return "sealed-" + fmt.Sprint(len(email)), nil }}
	for _, f := range with {
		f(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// TestPairAndExercise: a registered agent pairs (its token kept only as a
// hash), files a deletion that becomes a PrivacyRequest with the person in
// a subject Secret, follows it, files it again without a duplicate, and
// revokes it; another agent can neither read nor revoke it.
func TestPairAndExercise(t *testing.T) {
	srv := newServer(t)
	a, other := register(t, srv, "AGENT_A"), register(t, srv, "AGENT_B")
	a.pair(t)
	other.pair(t)
	aa := &privacyv1alpha1.AuthorizedAgent{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "agent-a"}, aa); err != nil || aa.Status.PairedAt == nil ||
		len(aa.Status.TokenSHA256) != 64 || strings.Contains(aa.Status.TokenSHA256, a.tok) {
		t.Fatalf("pairing recorded as %+v, %v", aa.Status, err)
	}
	if code, _ := a.call(t, "GET", "/v1/agent/"+a.id, ""); code != http.StatusOK {
		t.Fatalf("agent information with its token: %d", code)
	}
	// A captured pairing message replayed: refused, the token stays.
	now := time.Now().UTC().Add(-time.Second)
	old, _ := json.Marshal(map[string]string{"agent-id": a.id, "business-id": business, "drp.version": "1.0",
		"issued-at": now.Add(-time.Minute).Format(time.RFC3339), "expires-at": now.Add(10 * time.Minute).Format(time.RFC3339)})
	thief := &agent{id: a.id, srv: srv}
	if code, out := thief.call(t, "POST", "/v1/agent/"+a.id, base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, old), old...))); code != http.StatusForbidden || len(out) != 0 {
		t.Fatalf("a pairing message issued before the last pairing: %d %v", code, out)
	}
	if code, _ := thief.call(t, "POST", "/v1/agent/"+a.id, a.sign(map[string]any{"exercise": "access", "email": "x@example.com"}, true)); code != http.StatusForbidden {
		t.Fatalf("a request's message used to pair: %d", code)
	}
	if code, _ := a.call(t, "GET", "/v1/agent/"+a.id, ""); code != http.StatusOK {
		t.Fatalf("the agent's token after the refused replays: %d", code)
	}
	if code, _ := a.call(t, "GET", "/v1/agent/"+other.id, ""); code != http.StatusForbidden {
		t.Fatalf("agent information for another agent: %d", code)
	}

	exercise := map[string]any{"exercise": "deletion", "regime": "ccpa", "agent-request-id": "req-1", "email": "ada@example.com",
		"email_verified": true, "phone_number": "+442079460000", "phone_number_verified": true, "status_callback": "https://agent.example.com/cb"}
	code, st := a.call(t, "POST", "/v1/data-rights-request", a.sign(exercise, true))
	id, _ := st["request_id"].(string)
	if code != http.StatusOK || id == "" || st["status"] != "open" || st["agent_request_id"] != "req-1" || !strings.HasSuffix(st["received_at"].(string), "+00:00") {
		t.Fatalf("exercise: %d %v, want open, received_at in +00:00", code, st)
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: id}, pr); err != nil {
		t.Fatal(err)
	}
	if pr.Spec.Type != privacyv1alpha1.RequestTypeDelete || pr.Spec.Regulation != privacyv1alpha1.RegulationCCPA || pr.Spec.Subject.SecretRef == nil ||
		len(pr.Spec.Subject.Identities) != 0 || pr.Annotations[drp.AnnotationAgent] != a.id || pr.Annotations["privacyoperator.io/notify"] != "sealed-15" {
		t.Fatalf("request %+v %v", pr.Spec, pr.Annotations)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: pr.Spec.Subject.SecretRef.Namespace, Name: pr.Spec.Subject.SecretRef.Name}, secret); err != nil ||
		string(secret.Data["email"]) != "ada@example.com" || string(secret.Data["phone"]) != "+442079460000" {
		t.Fatalf("subject Secret %v, %v", secret.Data, err)
	}
	if code, again := a.call(t, "POST", "/v1/data-rights-request", a.sign(exercise, true)); code != http.StatusOK || again["request_id"] != id {
		t.Fatalf("the same agent-request-id again: %d %v, want request %s", code, again, id)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "agent-a"}, aa); err != nil || aa.Status.Requests < 1 || aa.Status.Requests > 2 {
		t.Fatalf("status.requests %d (%v), want the filing counted", aa.Status.Requests, err)
	}
	// Taken up by the operator: in progress, due by the regime's date.
	due := metav1.NewTime(time.Date(2027, 1, 21, 17, 0, 0, 0, time.UTC))
	pr.Status.Phase, pr.Status.DueAt = privacyv1alpha1.RequestPhasePending, &due
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	if code, st := a.call(t, "GET", "/v1/data-rights-request/"+id, ""); code != http.StatusOK || st["status"] != "in_progress" || st["expected_by"] != "2027-01-21T17:00:00+00:00" {
		t.Fatalf("status: %d %v, want in_progress, expected_by 2027-01-21T17:00:00+00:00", code, st)
	}
	if code, _ := other.call(t, "GET", "/v1/data-rights-request/"+id, ""); code != http.StatusForbidden {
		t.Fatalf("status for another agent: %d", code)
	}
	if code, _ := other.call(t, "DELETE", "/v1/data-rights-request/"+id, other.sign(map[string]any{"reason": "no"}, false)); code != http.StatusForbidden {
		t.Fatalf("revoke by another agent: %d", code)
	}
	if code, st := a.call(t, "DELETE", "/v1/data-rights-request/"+id, a.sign(map[string]any{"reason": "changed my mind"}, false)); code != http.StatusOK || st["status"] != "revoked" {
		t.Fatalf("revoke: %d %v", code, st)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: id}, pr); !apierrors.IsNotFound(err) && pr.DeletionTimestamp.IsZero() {
		t.Fatalf("the revoked request is still there: %v", err)
	}
}

// TestRate: an agent past its spec.requestsPerHour is answered 429, not
// fatal (it may retry later); another agent is not held back by it.
func TestRate(t *testing.T) {
	srv := newServer(t)
	a := register(t, srv, "AGENT_RATE")
	aa := &privacyv1alpha1.AuthorizedAgent{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "agent-rate"}, aa); err != nil {
		t.Fatal(err)
	}
	aa.Spec.RequestsPerHour = 2
	if err := k8s.Update(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	a.pair(t)
	for i := range 3 {
		code, out := a.call(t, "POST", "/v1/data-rights-request", a.sign(map[string]any{"exercise": "access", "email": fmt.Sprintf("r%d@example.com", i), "email_verified": true}, true))
		if i < 2 && code != http.StatusOK {
			t.Fatalf("request %d within the rate: %d %v", i+1, code, out)
		}
		if i == 2 && (code != http.StatusTooManyRequests || out["fatal"] == true) {
			t.Fatalf("request 3 past the rate: %d %v, want a retryable 429", code, out)
		}
	}
}

// TestRefused: what the protocol refuses, each with its answer.
func TestRefused(t *testing.T) {
	srv := newServer(t)
	a := register(t, srv, "AGENT_C")
	stranger := &agent{id: "NOT_REGISTERED", srv: srv}
	_, stranger.priv, _ = ed25519.GenerateKey(nil)
	if code, out := stranger.call(t, "POST", "/v1/agent/"+stranger.id, stranger.sign(map[string]any{}, true)); code != http.StatusForbidden || len(out) != 0 {
		t.Fatalf("an unregistered agent pairs: %d %v", code, out)
	}
	forged := &agent{id: a.id, srv: srv}
	_, forged.priv, _ = ed25519.GenerateKey(nil)
	if code, _ := forged.call(t, "POST", "/v1/agent/"+a.id, forged.sign(map[string]any{}, true)); code != http.StatusForbidden {
		t.Fatalf("pairing signed with another key: %d", code)
	}

	msg := map[string]any{"agent-id": a.id, "business-id": business, "drp.version": "1.0", "issued-at": "2020-01-01T00:00:00Z", "expires-at": "2020-01-01T00:10:00Z"}
	raw, _ := json.Marshal(msg)
	expired := base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, raw), raw...))
	if code, _ := a.call(t, "POST", "/v1/agent/"+a.id, expired); code != http.StatusForbidden {
		t.Fatalf("an expired pairing: %d", code)
	}
	if code, out := a.call(t, "POST", "/v1/data-rights-request", "x"); code != http.StatusForbidden || out["code"] != "403" {
		t.Fatalf("an exercise without a token: %d %v", code, out)
	}
	a.pair(t)
	for name, c := range map[string]struct {
		fields map[string]any
		code   int
		want   string
	}{
		"a right not served":   {map[string]any{"exercise": "access:specific", "email": "x@example.com", "email_verified": true}, 400, "Unsupported rights actions"},
		"no email":             {map[string]any{"exercise": "access"}, 400, "email claim"},
		"a foreign callback":   {map[string]any{"exercise": "access", "email": "x@example.com", "email_verified": true, "status_callback": "https://evil.example.net/cb"}, 400, "status_callback"},
		"an unverified e-mail": {map[string]any{"exercise": "access", "email": "x@example.com"}, 200, "insuf_verification"},
	} {
		code, out := a.call(t, "POST", "/v1/data-rights-request", a.sign(c.fields, true))
		text, _ := json.Marshal(out)
		if code != c.code || !strings.Contains(string(text), c.want) || (code != 200 && out["fatal"] != true) {
			t.Errorf("%s: %d %s, want %d with %q", name, code, text, c.code, c.want)
		}
	}
	wrongBusiness := map[string]any{"exercise": "access", "email": "x@example.com", "email_verified": true}
	body := a.sign(wrongBusiness, true)
	raw, _ = base64.StdEncoding.DecodeString(body)
	fields := map[string]any{}
	_ = json.Unmarshal(raw[64:], &fields)
	fields["business-id"] = "someone-else"
	raw, _ = json.Marshal(fields)
	if code, out := a.call(t, "POST", "/v1/data-rights-request", base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, raw), raw...))); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(out["message"]), "business-id") {
		t.Fatalf("another business: %d %v", code, out)
	}
}

// TestCallbacks: the agent's status_callback gets the request's status
// once per change, until it answers 200; the record of what it accepted
// is on the request; a host not registered for the agent gets nothing.
func TestCallbacks(t *testing.T) {
	var got []map[string]any
	fail := true
	agentSide := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := map[string]any{}
		_ = json.NewDecoder(r.Body).Decode(&st)
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got = append(got, st)
	}))
	defer agentSide.Close()
	host := strings.TrimPrefix(agentSide.URL, "https://")

	srv := newServer(t)
	a := register(t, srv, "AGENT_CB")
	aa := &privacyv1alpha1.AuthorizedAgent{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "agent-cb"}, aa); err != nil {
		t.Fatal(err)
	}
	aa.Spec.CallbackHosts = []string{host}
	if err := k8s.Update(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	a.pair(t)
	code, st := a.call(t, "POST", "/v1/data-rights-request", a.sign(map[string]any{"exercise": "access", "email": "cb@example.com", "email_verified": true,
		"status_callback": agentSide.URL + "/status"}, true))
	if code != http.StatusOK {
		t.Fatalf("exercise: %d %v", code, st)
	}
	cb := &drp.Callbacks{Client: k8s, HTTP: agentSide.Client()}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: st["request_id"].(string)}}
	if _, err := cb.Reconcile(context.Background(), req); err == nil {
		t.Fatal("an agent answering 500: no error, so no retry")
	}
	fail = false
	for range 2 {
		if _, err := cb.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0]["status"] != "open" || got[0]["request_id"] != req.Name {
		t.Fatalf("callbacks %v, want one open", got)
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := k8s.Get(context.Background(), req.NamespacedName, pr); err != nil {
		t.Fatal(err)
	}
	pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
	pr.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: privacyv1alpha1.ReasonCompleted,
		Message: "done", LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1]["status"] != "fulfilled" {
		t.Fatalf("callbacks %v, want fulfilled second", got)
	}

	// The host no longer registered: nothing is sent.
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "agent-cb"}, aa); err != nil {
		t.Fatal(err)
	}
	aa.Spec.CallbackHosts = []string{"elsewhere.example.com"}
	if err := k8s.Update(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(context.Background(), req.NamespacedName, pr); err != nil {
		t.Fatal(err)
	}
	pr.Status.Phase = privacyv1alpha1.RequestPhaseFailed
	pr.Status.Conditions[0].Status, pr.Status.Conditions[0].Reason = metav1.ConditionFalse, "Failed"
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Reconcile(context.Background(), req); err != nil || len(got) != 2 {
		t.Fatalf("a callback to a host no longer registered: %v, %d sent", err, len(got))
	}
}

// staleAgents is a cache that has not seen any pairing yet.
type staleAgents struct{ client.Reader }

func (s staleAgents) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := s.Reader.List(ctx, list, opts...); err != nil {
		return err
	}
	if agents, ok := list.(*privacyv1alpha1.AuthorizedAgentList); ok {
		for i := range agents.Items {
			agents.Items[i].Status = privacyv1alpha1.AuthorizedAgentStatus{}
		}
	}
	return nil
}

// TestTokenOfAPairingTheCacheHasNotSeen: an agent that files right after
// pairing is known by its token although the cache does not show the
// pairing yet (CI: 403 "pair first" on the first exercise); a wrong token
// is still refused.
func TestTokenOfAPairingTheCacheHasNotSeen(t *testing.T) {
	srv := newServer(t, func(s *drp.Server) { s.Agents = staleAgents{k8s} })
	a := register(t, srv, "AGENT_STALE")
	a.pair(t)
	if code, out := a.call(t, "GET", "/v1/agent/"+a.id, ""); code != http.StatusOK {
		t.Fatalf("the token of a pairing the cache has not seen: %d %v", code, out)
	}
	wrong := &agent{id: a.id, srv: srv, tok: "not-the-token"}
	if code, _ := wrong.call(t, "GET", "/v1/agent/"+a.id, ""); code != http.StatusForbidden {
		t.Fatalf("a wrong token: %d, want 403", code)
	}
}
