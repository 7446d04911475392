package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

// TestDRPMounted: the center serves the protocol beside its pages, through
// its protections (a signed pairing from a non-browser client passes the
// cross-origin check), and answers discovery.
func TestDRPMounted(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	aa := &privacyv1alpha1.AuthorizedAgent{ObjectMeta: metav1.ObjectMeta{Name: "mounted-agent"},
		Spec: privacyv1alpha1.AuthorizedAgentSpec{AgentID: "MOUNTED_AGENT", VerifyKey: base64.StdEncoding.EncodeToString(pub)}}
	if err := k8s.Create(context.Background(), aa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), aa) })
	c := newCenter(t, func(cfg *config.Config, o *web.Options) {
		o.DRP = (&drp.Server{Client: k8s, Agents: k8s, BusinessID: "example", APIBase: cfg.BaseURL, SubjectNamespace: cfg.SubjectNamespace,
			Identities: map[string]string{"email": "email"}, Log: logr.Discard()}).Handler()
	})
	now := time.Now().UTC()
	msg, _ := json.Marshal(map[string]string{"agent-id": "MOUNTED_AGENT", "business-id": "example", "drp.version": "1.0",
		"issued-at": now.Format(time.RFC3339), "expires-at": now.Add(5 * time.Minute).Format(time.RFC3339)})
	body := base64.StdEncoding.EncodeToString(append(ed25519.Sign(priv, msg), msg...))
	resp, err := http.Post(c.URL+"/v1/agent/MOUNTED_AGENT", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"token"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("pairing through the center: %d %s", resp.StatusCode, out)
	}
	code, disc, _ := c.do(t, "GET", "/.well-known/data-rights.json", nil)
	if code != http.StatusOK || !strings.Contains(disc, `"version":"1.0"`) || !strings.Contains(disc, `"api_base":"`+c.cfg.BaseURL+`"`) {
		t.Fatalf("discovery: %d %s", code, disc)
	}
}
