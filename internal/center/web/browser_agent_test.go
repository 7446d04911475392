package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
	"github.com/privacyoperator/privacy-operator/test/browsertest"
)

// TestOtherWaysInABrowser: in a real browser, with axe-core on each page,
// a person whose agent has not verified them confirms the agent's request
// (need_user_verification) and a reader of a newsletter unsubscribes from
// its link's page.
func TestOtherWaysInABrowser(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	aa := &privacyv1alpha1.AuthorizedAgent{ObjectMeta: metav1.ObjectMeta{Name: "browser-agent"},
		Spec: privacyv1alpha1.AuthorizedAgentSpec{AgentID: "BROWSER_AGENT", VerifyKey: base64.StdEncoding.EncodeToString(pub)}}
	if err := k8s.Create(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), aa) })
	c := newCenter(t, func(cfg *config.Config, o *web.Options) {
		cfg.Unsubscribe = &config.Unsubscribe{IssuerTokenFile: "unused"}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		o.IssuerToken = issuerToken
		ring, base := o.Ring, cfg.BaseURL
		o.DRP = (&drp.Server{Client: k8s, Agents: k8s, BusinessID: "example", APIBase: cfg.BaseURL, SubjectNamespace: cfg.SubjectNamespace,
			Identities: map[string]string{"email": "email"}, Log: logr.Discard(), VerifyFor: time.Hour,
			Verify: func(sub intake.Submission) (string, error) {
				payload, _ := json.Marshal(sub)
				page, err := ring.Seal(payload, intake.PurposeAgentVerify, time.Hour)
				return base + "/agent-verify?t=" + page, err
			}}).Handler()
	})
	a := &drpAgent{id: "BROWSER_AGENT", base: c.URL, priv: priv}
	_, paired := a.call(t, "POST", "/v1/agent/BROWSER_AGENT", map[string]any{})
	a.token, _ = paired["token"].(string)
	email := "agent-browser@example.com"
	code, st := a.call(t, "POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "email": email})
	page, _ := st["user_verification_url"].(string)
	if code != http.StatusOK || page == "" {
		t.Fatalf("exercise: %d %v", code, st)
	}

	b := browsertest.Start(t, "other-ways-in")
	run := func(steps ...chromedp.Action[chromedp.Void]) { t.Helper(); b.Run(t, steps...) }
	run(chromedp.Navigate(page+"&lang=en"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	if text := b.Text(t, "main"); !strings.Contains(text, "An authorized agent made a request") || !strings.Contains(text, "a***@example.com") {
		t.Fatalf("the agent's page: %q", text)
	}
	b.Check(t, "1-agent-request")
	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("code")))
	b.Check(t, "2-agent-check-mail")
	_, mailCode := c.mailFor(t, email)
	run(chromedp.SendKeys(chromedp.ID("code"), mailCode), chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("dl.status")))
	b.Check(t, "3-agent-status")
	if code, filed := a.call(t, "GET", "/v1/data-rights-request/"+st["request_id"].(string), nil); code != http.StatusOK || filed["status"] != "open" {
		t.Fatalf("after the person confirmed in the browser: %d %v", code, filed)
	}

	_, out := issue(t, c, issuerToken, `{"email": "`+email+`"}`)
	link, _ := out["url"].(string)
	run(chromedp.Navigate(link+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	b.Check(t, "4-unsubscribe")
	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitNotPresent(chromedp.CSS(`form[action^="/unsubscribe/"]`)),
		chromedp.WaitVisible(chromedp.CSS("main p")))
	if text := b.Text(t, "main"); !strings.Contains(text, "You are unsubscribed") {
		t.Fatalf("after the button: %q", text)
	}
	b.Check(t, "5-unsubscribed")
}
