package e2e_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// drpAgent is an authorized agent written from the Data Rights Protocol's
// text: Ed25519 "combined mode" messages (signature, then JSON; base64;
// text/plain) and its bearer token.
type drpAgent struct {
	id, base, token string
	priv            ed25519.PrivateKey
}

// call sends fields signed (with the envelope) or, for a GET, nothing.
func (a *drpAgent) call(method, path string, fields map[string]any) (int, map[string]any) {
	GinkgoHelper()
	var body io.Reader
	if fields != nil {
		now := time.Now().UTC()
		fields["agent-id"], fields["business-id"], fields["drp.version"] = a.id, "example-shop", "1.0"
		fields["issued-at"], fields["expires-at"] = now.Format(time.RFC3339), now.Add(10*time.Minute).Format(time.RFC3339)
		msg, err := json.Marshal(fields)
		Expect(err).NotTo(HaveOccurred())
		body = strings.NewReader(base64.StdEncoding.EncodeToString(append(ed25519.Sign(a.priv, msg), msg...)))
	}
	req, err := http.NewRequest(method, a.base+path, body)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "text/plain")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
