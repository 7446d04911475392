package callback

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// follower serves a listener that does not lead and forwards to leaderURL.
func follower(t *testing.T, leaderURL string, unreachable func()) string {
	t.Helper()
	return followerWithLimit(t, leaderURL, unreachable, maxBody)
}

func followerWithLimit(t *testing.T, leaderURL string, unreachable func(), limit int64) string {
	t.Helper()
	s := &Server{
		Dispatcher: dispatch.New(dispatch.Options{}), MaxBodyBytes: limit,
		IsLeader: func() bool { return false },
		Forward: &Forwarder{
			Leader:      func(context.Context) (string, error) { return leaderURL, nil },
			Unreachable: unreachable,
			Scheme:      "http",
		},
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func signedCallback(t *testing.T, key protocol.Key, id string) ([]byte, http.Header) {
	t.Helper()
	body, _ := json.Marshal(protocol.JobStatus{ID: id, Status: protocol.StatusCompleted, Result: &protocol.Result{Records: 1}})
	h := http.Header{}
	if _, err := protocol.Sign(h, protocol.RequestPayload(http.MethodPost, "/callbacks/"+id, body), time.Now(), key); err != nil {
		t.Fatal(err)
	}
	return body, h
}

func postTo(t *testing.T, base, id string, body []byte, h http.Header) *http.Response {
	t.Helper()
	return postStream(t, base, id, bytesReader(body), int64(len(body)), h)
}

// postStream posts length bytes of body (-1: chunked).
func postStream(t *testing.T, base, id string, body io.Reader, length int64, h http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+PathPrefix+id, body)
	req.ContentLength = length
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A callback that reaches a follower is recorded by the leader's
// dispatcher, verified there; a forged one is refused by the leader, and
// one without signature headers by the follower, unread.
func TestFollowerForwardsCallbacksToTheLeader(t *testing.T) {
	leader := newFixture(t, 2*maxBody+(1<<20))
	via := follower(t, leader.url, nil)

	body, h := signedCallback(t, leader.key, "pr-1")
	forged := h.Clone()
	forged.Set(protocol.HeaderSignature, "v1,"+"AAAA"+forged.Get(protocol.HeaderSignature)[7:])
	if resp := postTo(t, via, "pr-1", body, forged); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged callback through the follower: %d, want 401 from the leader", resp.StatusCode)
	}
	if _, ok := leader.d.Outcomes(leader.owner)["pr-1"]; ok {
		t.Fatal("a forged callback was recorded")
	}
	if resp := postTo(t, via, "pr-1", body, http.Header{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned callback at the follower: %d, want 401", resp.StatusCode)
	}
	if leader.unsignedRead.Load() {
		t.Error("an unsigned callback reached the leader")
	}

	if resp := postTo(t, via, "pr-1", body, h); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("genuine callback through the follower: %d, want 204", resp.StatusCode)
	}
	if o, ok := leader.d.Outcomes(leader.owner)["pr-1"]; !ok || o.Status == nil || o.Status.Result.Records != 1 {
		t.Fatalf("the leader holds %+v for pr-1; want the forwarded callback's outcome", o)
	}
}

// A follower never forwards a forwarded callback (leadership moved while
// it travelled), and answers 503 with Retry-After when the leader does not
// answer, telling its cache to look again.
func TestFollowerAsksForARetryWhenNoLeaderTakesIt(t *testing.T) {
	leader := newFixture(t, 2*maxBody+(1<<20))
	body, h := signedCallback(t, leader.key, "pr-1")

	via := follower(t, leader.url, nil)
	loop := h.Clone()
	loop.Set(HeaderForwarded, "true")
	if resp := postTo(t, via, "pr-1", body, loop); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("forwarded callback at a follower: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + l.Addr().String()
	l.Close()
	forgot := false
	via = follower(t, gone, func() { forgot = true })
	resp := postTo(t, via, "pr-1", body, h)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("leader unreachable: %d (Retry-After %q), want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !forgot {
		t.Error("the follower kept trusting the address of a leader that did not answer")
	}
	if _, ok := leader.d.Outcomes(leader.owner)["pr-1"]; ok {
		t.Error("an outcome was recorded though no leader took the callback")
	}
}

// A follower forwards only to what a leader publishes, scheme://host:port
// with the listeners' scheme: whoever can write the Lease cannot send
// callbacks (Access data) to a path, another scheme or cloud metadata.
func TestFollowerForwardsOnlyToALeaderURL(t *testing.T) {
	leader := newFixture(t, 2*maxBody+(1<<20))
	body, h := signedCallback(t, leader.key, "pr-1")
	for _, published := range []string{
		leader.url + "/elsewhere", leader.url + "?x=1", "https" + leader.url[len("http"):],
		"http://169.254.169.254:80", "http://user:pw@" + leader.url[len("http://"):], "http://localhost",
	} {
		if resp := postTo(t, follower(t, published, nil), "pr-1", body, h); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("leader URL %q: %d, want 503 (not used)", published, resp.StatusCode)
		}
	}
	if leader.bodyRead.Load() {
		t.Error("a refused leader URL was used")
	}
}

// A chunked body over the limit is refused 413 at the follower (the source
// stops), and does not make it look the leader up again.
func TestFollowerRefusesAnOversizeChunkedCallback(t *testing.T) {
	leader := newFixture(t, 2*maxBody+(1<<20))
	_, h := signedCallback(t, leader.key, "pr-1")
	forgot := false
	via := followerWithLimit(t, leader.url, func() { forgot = true }, 1<<20)
	// Chunked: the size is known only by reading.
	resp := postStream(t, via, "pr-1", &filler{n: 4 << 20}, -1, h)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("4 MiB chunked callback over a 1 MiB limit: %d, want 413", resp.StatusCode)
	}
	if forgot {
		t.Error("an oversize body made the follower drop the leader's address")
	}
}
