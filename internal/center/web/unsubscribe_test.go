package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

const issuerToken = "issuer-token-of-the-mail-system-0123456789"

// issue asks for a link as the company's mail system does.
func issue(t *testing.T, c *center, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.URL+"/unsubscribe-links", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// oneClick POSTs to a link as a mailbox provider does under RFC 8058: the
// body List-Unsubscribe=One-Click, form-encoded, no cookie, no Origin.
func oneClick(t *testing.T, link string) int {
	t.Helper()
	resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOneClickUnsubscribe: the mail system gets a link for an address
// with its issuer token (none without); a mailbox provider's one-click POST
// files an OptOut of the link's scope for that address, at once and
// without verification; the same link again files nothing more; a GET
// (a link scanner) files nothing; a link that was tampered with does not
// work.
func TestOneClickUnsubscribe(t *testing.T) {
	c := newCenter(t, func(cfg *config.Config, o *web.Options) {
		cfg.Unsubscribe = &config.Unsubscribe{IssuerTokenFile: "unused", Scopes: []string{"email-marketing", "sms-marketing"}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		o.IssuerToken = issuerToken + "\n"
	})
	email := "newsletter-reader@example.com"
	if code, _ := issue(t, c, "", `{"email": "`+email+`"}`); code != http.StatusUnauthorized {
		t.Fatalf("a link without the issuer token: %d", code)
	}
	if code, _ := issue(t, c, "wrong-token", `{"email": "`+email+`"}`); code != http.StatusUnauthorized {
		t.Fatalf("a link with a wrong token: %d", code)
	}
	for _, bad := range []string{`{"email": "not an address"}`, `{"email": "` + email + `", "scope": "sale"}`, `nonsense`} {
		if code, out := issue(t, c, issuerToken, bad); code != http.StatusBadRequest || out["message"] == "" {
			t.Errorf("body %s: %d %v, want 400 with a message", bad, code, out)
		}
	}
	code, out := issue(t, c, issuerToken, `{"email": "`+email+`"}`)
	link, _ := out["url"].(string)
	headers, _ := out["headers"].(map[string]any)
	if code != http.StatusOK || !strings.HasPrefix(link, c.cfg.BaseURL+"/unsubscribe/") || headers["List-Unsubscribe"] != "<"+link+">" ||
		headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" || strings.Contains(link, "newsletter-reader") {
		t.Fatalf("issue: %d %v", code, out)
	}
	before := len(requestsOfCenter(t))
	if code, body, _ := c.do(t, "GET", strings.TrimPrefix(link, c.cfg.BaseURL), nil, "Accept-Language", "en"); code != http.StatusOK ||
		!strings.Contains(body, email) || !strings.Contains(body, "Marketing e-mails") {
		t.Fatalf("the link's page: %d\n%s", code, body)
	}
	if len(requestsOfCenter(t)) != before {
		t.Fatal("a GET of the link filed a request")
	}

	if code := oneClick(t, link); code != http.StatusOK {
		t.Fatalf("one-click POST: %d", code)
	}
	if code := oneClick(t, link); code != http.StatusOK {
		t.Fatalf("the same link again: %d", code)
	}
	// Other tests share the API server: this link's requests are those of
	// its subject Secret's address.
	var filed []privacyv1alpha1.PrivacyRequest
	for _, pr := range requestsOfCenter(t) {
		secret := &corev1.Secret{}
		if pr.Annotations[privacyv1alpha1.AnnotationUnsubscribe] == "" || pr.Spec.Subject.SecretRef == nil ||
			k8s.Get(context.Background(), client.ObjectKey{Namespace: pr.Spec.Subject.SecretRef.Namespace, Name: pr.Spec.Subject.SecretRef.Name}, secret) != nil ||
			string(secret.Data["email"]) != email {
			continue
		}
		filed = append(filed, pr)
	}
	if len(filed) != 1 {
		t.Fatalf("%d requests from one link clicked twice, want 1", len(filed))
	}
	pr := filed[0]
	if pr.Spec.Type != privacyv1alpha1.RequestTypeOptOut || pr.Spec.OptOut == nil || !slices.Equal(pr.Spec.OptOut.Scopes, []string{"email-marketing"}) ||
		pr.Spec.Suspend || pr.Annotations["privacyoperator.io/notify"] != "" {
		t.Fatalf("the request: %+v %v (want an OptOut of email-marketing, filed at once, no notices)", pr.Spec, pr.Annotations)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: pr.Spec.Subject.SecretRef.Namespace, Name: pr.Spec.Subject.SecretRef.Name}, secret); err != nil ||
		string(secret.Data["email"]) != email {
		t.Fatalf("subject %v (%v)", secret.Data, err)
	}
	if strings.Contains(c.logs.String(), email) {
		t.Fatal("the center logged the address")
	}

	// Another scope, and a tampered link.
	_, out = issue(t, c, issuerToken, `{"email": "`+email+`", "scope": "sms-marketing"}`)
	sms := out["url"].(string)
	if code := oneClick(t, sms[:len(sms)-2]+"xx"); code == http.StatusOK {
		t.Fatal("a tampered link worked")
	}
	if code := oneClick(t, sms); code != http.StatusOK {
		t.Fatalf("the sms link: %d", code)
	}
}
