package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

// drpAgent is an authorized agent as the protocol describes it: it signs
// its messages (Ed25519, signature first, base64) and calls with its token.
type drpAgent struct {
	id, base, token string
	priv            ed25519.PrivateKey
}

func (a *drpAgent) call(t *testing.T, method, path string, fields map[string]any) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if fields != nil {
		now := time.Now().UTC()
		if method != "DELETE" {
			fields["agent-id"], fields["business-id"], fields["drp.version"] = a.id, "example", "1.0"
			fields["issued-at"], fields["expires-at"] = now.Format(time.RFC3339), now.Add(5*time.Minute).Format(time.RFC3339)
		}
		msg, _ := json.Marshal(fields)
		body = strings.NewReader(base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, msg), msg...)))
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestAgentRequestNeedsThePerson: an agent's request whose e-mail the
// agent has not verified is answered in_progress / need_user_verification
// with the center's page; nothing is filed until the person, sent there
// by the agent, proves the address with the mailed link; then the request
// is filed with the agent's ids and the person goes back to redirect_to,
// only to a host registered for the agent. A request the agent revokes
// meanwhile is never filed.
func TestAgentRequestNeedsThePerson(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	aa := &privacyv1alpha1.AuthorizedAgent{ObjectMeta: metav1.ObjectMeta{Name: "verifying-agent"},
		Spec: privacyv1alpha1.AuthorizedAgentSpec{AgentID: "VERIFYING_AGENT", VerifyKey: base64.StdEncoding.EncodeToString(pub), CallbackHosts: []string{"agent.example.com"}}}
	if err := k8s.Create(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), aa) })
	c := newCenter(t, func(cfg *config.Config, o *web.Options) {
		ring, base := o.Ring, cfg.BaseURL
		o.DRP = (&drp.Server{Client: k8s, Agents: k8s, BusinessID: "example", APIBase: cfg.BaseURL, SubjectNamespace: cfg.SubjectNamespace,
			Identities: map[string]string{"email": "email"}, Log: logr.Discard(), VerifyFor: 72 * time.Hour,
			Verify: func(sub intake.Submission) (string, error) {
				payload, _ := json.Marshal(sub)
				page, err := ring.Seal(payload, intake.PurposeAgentVerify, 72*time.Hour)
				return base + "/agent-verify?t=" + page, err
			}}).Handler()
	})
	a := &drpAgent{id: "VERIFYING_AGENT", base: c.URL, priv: priv}
	code, paired := a.call(t, "POST", "/v1/agent/VERIFYING_AGENT", map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("pairing: %d %v", code, paired)
	}
	a.token = paired["token"].(string)

	email := "needs-verifying@example.com"
	code, st := a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "deletion", "agent-request-id": "nuv-1", "email": email, "email_verified": false})
	id, _ := st["request_id"].(string)
	page, _ := st["user_verification_url"].(string)
	if code != http.StatusOK || st["status"] != "in_progress" || st["reason"] != "need_user_verification" || !strings.HasPrefix(page, c.cfg.BaseURL+"/agent-verify?t=") ||
		!strings.HasSuffix(st["expires_at"].(string), "+00:00") {
		t.Fatalf("exercise: %d %v, want in_progress/need_user_verification with the center's page", code, st)
	}
	if strings.Contains(page, email) {
		t.Fatal("the verification URL carries the address in the clear")
	}
	if prs := requestsOfCenter(t); len(prs) > 0 {
		for _, pr := range prs {
			if pr.Name == id {
				t.Fatal("the request was filed before the person verified")
			}
		}
	}
	if code, again := a.call(t, "GET", "/v1/data-rights-request/"+id, nil); code != http.StatusOK || again["reason"] != "need_user_verification" || again["user_verification_url"] != page {
		t.Fatalf("status while waiting: %d %v", code, again)
	}

	// The agent sends the person to the page, with where to go after.
	q := "&redirect_to=" + url.QueryEscape("https://agent.example.com/done?r=1") + "&request_id=" + id
	code, body, _ := c.do(t, "GET", strings.TrimPrefix(page, c.cfg.BaseURL)+q, nil, "Accept-Language", "en")
	if code != http.StatusOK || !strings.Contains(body, "An authorized agent made a request") || !strings.Contains(body, "n***@example.com") || strings.Contains(body, email) {
		t.Fatalf("the page: %d\n%s", code, body)
	}
	token, _ := url.ParseQuery(strings.SplitN(page, "?", 2)[1])
	if code, _, _ := c.do(t, "POST", "/agent-verify", url.Values{"t": {token.Get("t")}, "redirect_to": {"https://agent.example.com/done?r=1"}, "request_id": {id}}); code != http.StatusOK {
		t.Fatalf("sending the code: %d", code)
	}
	link, _ := c.mailFor(t, email)
	_, _, header := c.do(t, "POST", "/verify", url.Values{"link": {link}})
	if loc := header.Get("Location"); loc != "https://agent.example.com/done?r=1" {
		t.Fatalf("after the verification: Location %q, want the agent's redirect_to", loc)
	}
	if _, _, again := c.do(t, "POST", "/verify", url.Values{"link": {link}}); again.Get("Location") != "https://agent.example.com/done?r=1" {
		t.Fatalf("a second click on the link: Location %q, want the filed request found again", again.Get("Location"))
	}
	pr := request(t, id)
	if pr.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent] != "VERIFYING_AGENT" || pr.Annotations[privacyv1alpha1.AnnotationAgentRequestID] != "nuv-1" ||
		pr.Spec.Type != privacyv1alpha1.RequestTypeDelete || pr.Annotations[intake.AnnotationNotify] == "" {
		t.Fatalf("the filed request: %v %+v", pr.Annotations, pr.Spec)
	}
	if code, filed := a.call(t, "GET", "/v1/data-rights-request/"+id, nil); code != http.StatusOK || filed["status"] != "open" {
		t.Fatalf("status once filed: %d %v, want open", code, filed)
	}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(aa), aa); err != nil {
		t.Fatal(err)
	}
	for _, ans := range aa.Status.Answers {
		if ans.RequestID == id {
			t.Fatalf("the waiting answer stays once the request is filed: %+v", ans)
		}
	}
	if aa.Status.Requests != 1 {
		t.Fatalf("status.requests %d after the person verified (twice), want 1", aa.Status.Requests)
	}
	code, again := a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "deletion", "agent-request-id": "nuv-1", "email": email, "email_verified": false})
	if code != http.StatusOK || again["request_id"] != id || again["status"] != "open" {
		t.Fatalf("the agent retries after the person verified: %d %v, want the filed request", code, again)
	}

	// A redirect_to on a host not registered for the agent is not followed.
	if code, st = a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "agent-request-id": "nuv-2", "email": "other-host@example.com"}); code != http.StatusOK {
		t.Fatalf("exercise: %d %v", code, st)
	}
	token, _ = url.ParseQuery(strings.SplitN(st["user_verification_url"].(string), "?", 2)[1])
	c.do(t, "POST", "/agent-verify", url.Values{"t": {token.Get("t")}, "redirect_to": {"https://evil.example.net/"}, "request_id": {st["request_id"].(string)}})
	link, _ = c.mailFor(t, "other-host@example.com")
	if _, _, header = c.do(t, "POST", "/verify", url.Values{"link": {link}}); !strings.HasPrefix(header.Get("Location"), "/status/") {
		t.Fatalf("a foreign redirect_to: Location %q, want the center's status page", header.Get("Location"))
	}

	// Revoked after the mail went out: its link files nothing.
	if code, st = a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "agent-request-id": "nuv-4", "email": "late-revoke@example.com"}); code != http.StatusOK {
		t.Fatalf("exercise: %d %v", code, st)
	}
	token, _ = url.ParseQuery(strings.SplitN(st["user_verification_url"].(string), "?", 2)[1])
	c.do(t, "POST", "/agent-verify", url.Values{"t": {token.Get("t")}})
	link, _ = c.mailFor(t, "late-revoke@example.com")
	if code, _ := a.call(t, "DELETE", "/v1/data-rights-request/"+st["request_id"].(string), map[string]any{"reason": "no"}); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, _ := c.do(t, "POST", "/verify", url.Values{"link": {link}}); code != http.StatusGone {
		t.Fatalf("the mailed link of a revoked request: %d, want 410", code)
	}

	// Revoked while it waits: the page files nothing.
	if code, st = a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "agent-request-id": "nuv-3", "email": "revoked@example.com"}); code != http.StatusOK {
		t.Fatalf("exercise: %d %v", code, st)
	}
	token, _ = url.ParseQuery(strings.SplitN(st["user_verification_url"].(string), "?", 2)[1])
	if code, rv := a.call(t, "DELETE", "/v1/data-rights-request/"+st["request_id"].(string), map[string]any{"reason": "changed my mind"}); code != http.StatusOK || rv["status"] != "revoked" {
		t.Fatalf("revoke while waiting: %d %v", code, rv)
	}
	if code, _, _ := c.do(t, "POST", "/agent-verify", url.Values{"t": {token.Get("t")}}); code != http.StatusGone {
		t.Fatalf("the page of a revoked request: %d, want 410", code)
	}
	if code, _, _ := c.do(t, "GET", "/agent-verify?t="+url.QueryEscape(token.Get("t")), nil); code != http.StatusGone {
		t.Fatalf("opening the page of a revoked request: %d, want 410", code)
	}
}
