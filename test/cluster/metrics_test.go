package cluster_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// metrics: the manager's metrics endpoint answers a ServiceAccount bound to
// the metrics-reader ClusterRole, refuses one that is not (403) and a
// caller without a token (401). Called from the node, at a pod's address.
func metrics(t *testing.T) {
	namespace(t, "monitoring")
	for _, sa := range []string{"scraper", "stranger"} {
		kubectl(t, "create", "serviceaccount", sa, "-n", "monitoring")
	}
	kubectl(t, "create", "clusterrolebinding", "scraper-metrics", "--clusterrole=privacy-operator-metrics-reader",
		"--serviceaccount=monitoring:scraper")
	ip := jsonpath(t, "{.status.podIP}", "pod", leader(t), "-n", operatorNS)
	url := "https://" + ip + ":8443/metrics"
	// The endpoint's certificate is made in memory at each start (no CA to
	// check it against): what is tested is who it answers.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	token := func(sa string) string {
		return strings.TrimSpace(kubectl(t, "create", "token", sa, "-n", "monitoring", "--duration=10m"))
	}
	// The binding reaches the API server's authorizer at once, the
	// manager's cached decision (if any) within seconds.
	eventually(t, 30*time.Second, "the scraper's token is answered", func() (bool, string) {
		code, body := get(token("scraper"))
		return code == http.StatusOK && strings.Contains(body, "privacyoperator_"), http.StatusText(code)
	})
	if code, _ := get(token("stranger")); code != http.StatusForbidden {
		t.Errorf("a token without the role: HTTP %d, want 403", code)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d, want 401", code)
	}
}
