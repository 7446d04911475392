package drp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// pyJSON writes fields as Python's json.dumps does by default (", " and
// ": " separators), the bytes the protocol's reference agent signs.
func pyJSON(fields map[string]any) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		key, _ := json.Marshal(k)
		var val []byte
		if m, ok := fields[k].(map[string]any); ok {
			val = pyJSON(m)
		} else {
			val, _ = json.Marshal(fields[k])
		}
		b.Write(key)
		b.WriteString(": ")
		b.Write(val)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// fieldSign signs as the reference agent: json.dumps bytes, timestamps
// with milliseconds and +00:00, a 15-minute window.
func (a *agent) fieldSign(fields map[string]any) string {
	now := time.Now().UTC()
	fields["agent-id"], fields["business-id"], fields["drp.version"] = a.id, business, "1.0"
	fields["issued-at"] = now.Format("2006-01-02T15:04:05.000") + "+00:00"
	fields["expires-at"] = now.Add(15*time.Minute).Format("2006-01-02T15:04:05.000") + "+00:00"
	msg := pyJSON(fields)
	return base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, msg), msg...))
}

// raw calls without a Content-Type, as the reference agent's DELETE does.
func (a *agent) raw(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// TestAgentsInTheField: what agents in the field send is taken as meant:
// the trailing slash, json.dumps bytes with spaces, milliseconds and
// +00:00, a 15-minute window, absent claims as empty strings, *_verified
// as strings, "Last, First" names, sale:opt_out with an underscore, a
// revocation signing only its reason and sent without a Content-Type.
// sale:opt-in is answered denied, and the answer is found again.
func TestAgentsInTheField(t *testing.T) {
	srv := newServer(t, func(s *drp.Server) {
		s.Identities = map[string]string{"email": "email", "phone_number": "phone", "name": "name", "address": "postalAddress"}
	})
	a := register(t, srv, "FIELD_AGENT")
	a.pair(t)
	code, st := a.call(t, "POST", "/v1/data-rights-request/", a.fieldSign(map[string]any{
		"exercise": "sale:opt_out", "regime": "voluntary", "agent-request-id": "field-1", "name": "Lovelace, Ada",
		"email": "ada.field@example.com", "email_verified": "true", "phone_number": "", "phone_number_verified": "",
		"address": map[string]any{"street_address": "\n", "locality": "", "region": "", "postal_code": ""}, "address_verified": false,
	}))
	id, _ := st["request_id"].(string)
	if code != http.StatusOK || st["status"] != "open" {
		t.Fatalf("the reference agent's exercise: %d %v", code, st)
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: id}, pr); err != nil {
		t.Fatal(err)
	}
	if pr.Spec.Type != privacyv1alpha1.RequestTypeOptOut || pr.Spec.OptOut == nil || !slices.Equal(pr.Spec.OptOut.Scopes, []string{"sale"}) ||
		pr.Spec.Regulation != privacyv1alpha1.RegulationOther {
		t.Fatalf("sale:opt_out became %+v", pr.Spec)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "privacy-operator-system", Name: id}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["name"]) != "Ada Lovelace" || len(secret.Data["phone"]) != 0 || string(secret.Data["email"]) != "ada.field@example.com" ||
		len(secret.Data["postalAddress"]) != 0 {
		t.Fatalf("subject %q", secret.Data)
	}

	// Revoked with only a signed reason, no Content-Type; the request is
	// gone (no operator here holds it), its status stays revoked.
	reason, _ := json.Marshal(map[string]string{"reason": "I changed my mind"})
	if code, rv := a.raw(t, "DELETE", "/v1/data-rights-request/"+id, base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, reason), reason...))); code != http.StatusOK || rv["status"] != "revoked" {
		t.Fatalf("revoke: %d %v", code, rv)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: id}, pr); !apierrors.IsNotFound(err) {
		t.Fatalf("the revoked request: %v, want it gone", err)
	}
	if code, gone := a.call(t, "GET", "/v1/data-rights-request/"+id, ""); code != http.StatusOK || gone["status"] != "revoked" || gone["agent_request_id"] != "field-1" {
		t.Fatalf("status of a revoked request once deleted: %d %v, want revoked", code, gone)
	}

	code, st = a.call(t, "POST", "/v1/data-rights-request", a.fieldSign(map[string]any{"exercise": "sale:opt_in", "agent-request-id": "field-2",
		"email": "ada.field@example.com", "email_verified": true}))
	if code != http.StatusOK || st["status"] != "denied" || st["reason"] != "claim_not_covered" || !strings.HasPrefix(st["request_id"].(string), intake.NamePrefix) {
		t.Fatalf("sale:opt_in: %d %v, want denied/claim_not_covered", code, st)
	}
	if code, again := a.call(t, "GET", "/v1/data-rights-request/"+st["request_id"].(string), ""); code != http.StatusOK || again["status"] != "denied" {
		t.Fatalf("status of the denied opt-in: %d %v", code, again)
	}
	if code, bad := a.call(t, "POST", "/v1/data-rights-request", a.fieldSign(map[string]any{"exercise": "access", "email": "x@example.com", "email_verified": "yes"})); code != http.StatusBadRequest {
		t.Fatalf("email_verified \"yes\": %d %v, want 400", code, bad)
	}
	aa := &privacyv1alpha1.AuthorizedAgent{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "field-agent"}, aa); err != nil || len(aa.Status.Answers) != 2 {
		t.Fatalf("answers %+v (%v), want the revoked and the denied request", aa.Status.Answers, err)
	}
	for _, ans := range aa.Status.Answers {
		if strings.Contains(ans.ProcessingDetails, "ada") {
			t.Fatalf("an answer holds personal data: %+v", ans)
		}
	}
}

// TestVerificationExpires: an agent's request the person never verified
// reads expired after drp.verifyFor; until then need_user_verification.
func TestVerificationExpires(t *testing.T) {
	now := time.Now()
	var sealed []intake.Submission
	srv := newServer(t, func(s *drp.Server) {
		s.Now = func() time.Time { return now }
		s.VerifyFor = 24 * time.Hour
		s.Verify = func(sub intake.Submission) (string, error) {
			sealed = append(sealed, sub)
			return "https://privacy.example.com/agent-verify?t=sealed", nil
		}
	})
	a := register(t, srv, "SLOW_AGENT")
	a.pair(t)
	code, st := a.call(t, "POST", "/v1/data-rights-request", a.sign(map[string]any{"exercise": "access", "agent-request-id": "slow-1",
		"email": "slow@example.com", "status_callback": "https://agent.example.com/cb"}, true))
	if code != http.StatusOK || st["reason"] != "need_user_verification" || len(sealed) != 1 {
		t.Fatalf("exercise: %d %v", code, st)
	}
	if s := sealed[0]; s.Annotations[drp.AnnotationAgent] != "SLOW_AGENT" || s.Annotations[drp.AnnotationAgentRequestID] != "slow-1" ||
		s.Annotations[drp.AnnotationStatusCallback] != "https://agent.example.com/cb" ||
		s.Name() != st["request_id"] {
		t.Fatalf("the sealed submission %+v", s)
	}
	now = now.Add(25 * time.Hour)
	if code, late := a.call(t, "GET", "/v1/data-rights-request/"+st["request_id"].(string), ""); code != http.StatusOK || late["status"] != "expired" || late["user_verification_url"] != nil {
		t.Fatalf("after drp.verifyFor: %d %v, want expired", code, late)
	}
}

// TestExerciseChecks: an exercise is refused when it expired, was issued
// in the future or is too large; the same signed message replayed files
// nothing new, also without an agent-request-id.
func TestExerciseChecks(t *testing.T) {
	srv := newServer(t)
	a := register(t, srv, "CHECKED_AGENT")
	a.pair(t)
	signAt := func(fields map[string]any, issued, expires time.Time) string {
		fields["agent-id"], fields["business-id"], fields["drp.version"] = a.id, business, "1.0"
		fields["issued-at"], fields["expires-at"] = issued.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339)
		msg, _ := json.Marshal(fields)
		return base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, msg), msg...))
	}
	claims := func() map[string]any {
		return map[string]any{"exercise": "access", "email": "checked@example.com", "email_verified": true}
	}
	now := time.Now()
	for name, c := range map[string]struct {
		body string
		code int
	}{
		"expired":                  {signAt(claims(), now.Add(-20*time.Minute), now.Add(-5*time.Minute)), http.StatusBadRequest},
		"issued in the future":     {signAt(claims(), now.Add(5*time.Minute), now.Add(10*time.Minute)), http.StatusBadRequest},
		"valid too far ahead":      {signAt(claims(), now, now.Add(2*time.Hour)), http.StatusBadRequest},
		"larger than 16 KiB":       {signAt(map[string]any{"exercise": "access", "email": "checked@example.com", "email_verified": true, "name": strings.Repeat("x", 40<<10)}, now, now.Add(5*time.Minute)), http.StatusRequestEntityTooLarge},
		"not base64":               {"%%%not-base64%%%", http.StatusBadRequest},
		"shorter than a signature": {base64.StdEncoding.EncodeToString([]byte("short")), http.StatusBadRequest},
	} {
		if code, out := a.call(t, "POST", "/v1/data-rights-request", c.body); code != c.code || out["code"] != fmt.Sprint(c.code) {
			t.Errorf("%s: %d %v, want %d", name, code, out, c.code)
		}
	}
	body := signAt(claims(), now, now.Add(5*time.Minute))
	_, first := a.call(t, "POST", "/v1/data-rights-request", body)
	_, replay := a.call(t, "POST", "/v1/data-rights-request", body)
	if first["request_id"] == nil || first["request_id"] != replay["request_id"] {
		t.Fatalf("the same message twice: %v then %v, want one request", first, replay)
	}
	_, fresh := a.call(t, "POST", "/v1/data-rights-request", signAt(claims(), now.Add(time.Second), now.Add(5*time.Minute)))
	if fresh["request_id"] == first["request_id"] {
		t.Fatal("a new message with the same claims found the earlier request")
	}
}

// TestVerifiedAddress: an address the agent verified becomes the mapped
// identity, on one line; an unverified one is not used.
func TestVerifiedAddress(t *testing.T) {
	srv := newServer(t, func(s *drp.Server) {
		s.Identities = map[string]string{"email": "email", "address": "postalAddress"}
	})
	a := register(t, srv, "ADDRESS_AGENT")
	a.pair(t)
	_, st := a.call(t, "POST", "/v1/data-rights-request", a.fieldSign(map[string]any{"exercise": "deletion", "email": "addr@example.com",
		"email_verified": true, "address_verified": true,
		"address": map[string]any{"street_address": "12 St James's Square\n", "locality": "London", "region": "", "postal_code": "SW1Y 4JH", "country": "UK"}}))
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "privacy-operator-system", Name: st["request_id"].(string)}, secret); err != nil {
		t.Fatal(err)
	}
	if got := string(secret.Data["postalAddress"]); got != "12 St James's Square, London, SW1Y 4JH, UK" {
		t.Fatalf("address %q", got)
	}
}
