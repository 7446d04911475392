package datasource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

var secret = protocol.NewSecret()

// operator plays the operator's side: it signs what it sends and checks
// the signatures of what comes back.
type operator struct {
	t    *testing.T
	url  string
	key  protocol.Key
	last http.Header
}

func newOperator(t *testing.T, h http.Handler) *operator {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	key, err := protocol.ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return &operator{t: t, url: srv.URL, key: key}
}

func (o *operator) do(method, path string, body any) (int, []byte) {
	o.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, o.url+path, nil)
	if _, err := protocol.SignRequest(req, path, raw, time.Now(), o.key); err != nil {
		o.t.Fatal(err)
	}
	o.last = req.Header.Clone()
	return o.send(req)
}

func (o *operator) send(req *http.Request) (int, []byte) {
	o.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	payload := protocol.AnswerPayload(req.Method, req.URL.Path, req.Header.Get(protocol.HeaderID), out)
	if _, err := protocol.Verify(resp.Header, payload, time.Now(), o.key); err != nil {
		o.t.Errorf("answer to %s %s is not signed: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, out
}

func job(id string, t protocol.JobType) protocol.Job {
	return protocol.Job{
		APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: id, Type: t,
		Request: protocol.RequestRef{Name: "access-ada", UID: "uid-1"},
		Subject: &protocol.Subject{Identities: map[string]string{"email": "ada@example.com"}},
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestSyncJobRunsOnce(t *testing.T) {
	var calls atomic.Int32
	h, err := datasource.New(datasource.Config{
		Secrets: []string{secret}, Identities: []string{"email"},
		Delete: func(_ context.Context, j *protocol.Job) (datasource.Result, error) {
			calls.Add(1)
			return datasource.Result{Records: 2}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	op := newOperator(t, h)
	for range 2 {
		code, body := op.do(http.MethodPost, protocol.PathJobs, job("job-1", protocol.JobDelete))
		if code != http.StatusOK {
			t.Fatalf("POST /jobs = %d %s", code, body)
		}
		st := decode[protocol.JobStatus](t, body)
		if st.Status != protocol.StatusCompleted || st.Result.Records != 2 {
			t.Errorf("status = %+v", st)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Delete ran %d times for one job id, want 1", n)
	}
}

// Access data is personal data: the SDK answers it and keeps none of it,
// so a poll after the answer finds nothing and a redelivery runs again.
func TestAccessDataIsNotKept(t *testing.T) {
	var calls atomic.Int32
	h, _ := datasource.New(datasource.Config{
		Secrets: []string{secret}, Identities: []string{"email"},
		Access: func(_ context.Context, j *protocol.Job) (datasource.Result, error) {
			calls.Add(1)
			return datasource.Result{Records: 2, Data: map[string]any{"orders": []int{1, 2}}}, nil
		},
	})
	op := newOperator(t, h)
	code, body := op.do(http.MethodPost, protocol.PathJobs, job("job-1", protocol.JobAccess))
	if st := decode[protocol.JobStatus](t, body); code != http.StatusOK || string(st.Result.Data) != `{"orders":[1,2]}` {
		t.Fatalf("POST /jobs = %d %s", code, body)
	}
	if code, body := op.do(http.MethodGet, protocol.PathJobs+"/job-1", nil); code != http.StatusNotFound || strings.Contains(string(body), "orders") {
		t.Errorf("GET after the answer = %d %s: the data must not be kept", code, body)
	}
	if code, _ := op.do(http.MethodPost, protocol.PathJobs, job("job-1", protocol.JobAccess)); code != http.StatusOK || calls.Load() != 2 {
		t.Errorf("redelivery = %d, ran %d times: an Access job is answered by running it again", code, calls.Load())
	}
}

// A panicking job function fails its job for good (sync and async) and
// leaves the service serving.
func TestPanicBecomesFailed(t *testing.T) {
	got := make(chan protocol.JobStatus, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- decode[protocol.JobStatus](t, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	h, _ := datasource.New(datasource.Config{
		Secrets: []string{secret}, AsyncTypes: []protocol.JobType{protocol.JobPurge},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) { panic("nil map") },
		Purge:  func(context.Context, *protocol.Job) (datasource.Result, error) { panic("nil map") },
	})
	t.Cleanup(h.Close)
	op := newOperator(t, h)
	code, body := op.do(http.MethodPost, protocol.PathJobs, job("sync-panic", protocol.JobDelete))
	if st := decode[protocol.JobStatus](t, body); code != http.StatusOK || st.Status != protocol.StatusFailed {
		t.Errorf("sync panic: %d %s, want 200 Failed", code, body)
	}
	if code, body := op.do(http.MethodGet, protocol.PathJobs+"/sync-panic", nil); code != http.StatusOK || !strings.Contains(string(body), "Failed") {
		t.Errorf("GET after a sync panic = %d %s, want the Failed status (not running forever)", code, body)
	}
	j := job("async-panic", protocol.JobPurge)
	j.CallbackURL = cb.URL + "/callbacks/async-panic"
	if code, body := op.do(http.MethodPost, protocol.PathJobs, j); code != http.StatusAccepted {
		t.Fatalf("POST async = %d %s", code, body)
	}
	select {
	case st := <-got:
		if st.Status != protocol.StatusFailed {
			t.Errorf("async panic called back %+v, want Failed", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback after an async panic")
	}
}

// The in-memory store forgets the oldest finished jobs, never a running one.
func TestMemoryStoreKeepsRunningJobs(t *testing.T) {
	s := datasource.NewMemoryStore(2)
	if _, running, _ := s.Begin("long"); running {
		t.Fatal("a new job reported running")
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		_, _, _ = s.Begin(id)
		_ = s.Finish(id, protocol.JobStatus{ID: id, Status: protocol.StatusCompleted})
	}
	if _, running, _ := s.Begin("long"); !running {
		t.Error("a running job was evicted: a redelivery would run it twice")
	}
	if st, _, _ := s.Get("a"); st != nil {
		t.Error("the oldest finished job was kept beyond the limit")
	}
	if st, _, _ := s.Get("d"); st == nil || st.Status != protocol.StatusCompleted {
		t.Errorf("the latest finished job = %+v", st)
	}
}

func TestOutcomes(t *testing.T) {
	h, _ := datasource.New(datasource.Config{
		Secrets: []string{secret},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{NotFound: true}, nil
		},
		Correct: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{}, datasource.Permanent("field nickname cannot be corrected here")
		},
		OptOut: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{}, datasource.Unavailable(errors.New("database is down"), 30*time.Second)
		},
		Purge: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{}, errors.New("disk full")
		},
	})
	op := newOperator(t, h)

	code, body := op.do(http.MethodPost, protocol.PathJobs, job("d", protocol.JobDelete))
	if st := decode[protocol.JobStatus](t, body); code != 200 || st.Status != protocol.StatusNotFound {
		t.Errorf("NotFound: %d %s", code, body)
	}
	code, body = op.do(http.MethodPost, protocol.PathJobs, job("c", protocol.JobCorrect))
	if st := decode[protocol.JobStatus](t, body); code != 200 || st.Status != protocol.StatusFailed || st.Message != "field nickname cannot be corrected here" {
		t.Errorf("Permanent: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodPost, op.url+protocol.PathJobs, nil)
	raw, _ := json.Marshal(job("o", protocol.JobOptOut))
	_, _ = protocol.SignRequest(req, protocol.PathJobs, raw, time.Now(), op.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Unavailable: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, _ := op.do(http.MethodPost, protocol.PathJobs, job("p", protocol.JobPurge)); code != http.StatusInternalServerError {
		t.Errorf("plain error: %d, want 500", code)
	}
	// A retryable failure is forgotten, so the retry runs the job again.
	if code, _ := op.do(http.MethodGet, protocol.PathJobs+"/p", nil); code != http.StatusNotFound {
		t.Errorf("GET a forgotten job: %d, want 404", code)
	}
	if code, body := op.do(http.MethodPost, protocol.PathJobs, job("a", protocol.JobAccess)); code != http.StatusUnprocessableEntity {
		t.Errorf("unserved type: %d %s, want 422", code, body)
	}
}

func TestRefusesUnsignedAndReplayed(t *testing.T) {
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret}, Identities: []string{"email"},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }})
	op := newOperator(t, h)

	raw, _ := json.Marshal(job("j", protocol.JobDelete))
	resp, err := http.Post(op.url+protocol.PathJobs, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", resp.StatusCode)
	}

	if code, _ := op.do(http.MethodGet, protocol.PathCapabilities, nil); code != http.StatusOK {
		t.Fatalf("capabilities: %d", code)
	}
	replay, _ := http.NewRequest(http.MethodGet, op.url+protocol.PathCapabilities, nil)
	replay.Header = op.last
	if code, _ := op.send(replay); code != http.StatusUnauthorized {
		t.Errorf("replayed: %d, want 401", code)
	}
}

func TestCapabilities(t *testing.T) {
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret}, Identities: []string{"email", "userId"}, Categories: []string{"billing"},
		Access: func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil },
		Purge:  func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }})
	op := newOperator(t, h)
	code, body := op.do(http.MethodGet, protocol.PathCapabilities, nil)
	caps := decode[protocol.Capabilities](t, body)
	if code != 200 || len(caps.RequestTypes) != 2 || caps.RequestTypes[0] != protocol.JobAccess || caps.RequestTypes[1] != protocol.JobPurge ||
		len(caps.Identities) != 2 || caps.Categories[0] != "billing" {
		t.Errorf("capabilities = %d %+v", code, caps)
	}
}

func TestAsyncJobCallsBack(t *testing.T) {
	release := make(chan struct{})
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret}, Async: true, CallbackBackoff: 10 * time.Millisecond,
		Delete: func(ctx context.Context, _ *protocol.Job) (datasource.Result, error) {
			<-release
			return datasource.Result{Records: 7}, nil
		}})
	t.Cleanup(h.Close)
	op := newOperator(t, h)

	got := make(chan protocol.JobStatus, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := protocol.Verify(r.Header, protocol.RequestPayload(http.MethodPost, protocol.PathCallbacks+"/async-1", body), time.Now(), op.key); err != nil {
			t.Errorf("callback not signed over POST /callbacks/{id}: %v", err)
		}
		got <- decode[protocol.JobStatus](t, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)

	j := job("async-1", protocol.JobDelete)
	j.CallbackURL = cb.URL + "/callbacks"
	if code, body := op.do(http.MethodPost, protocol.PathJobs, j); code != http.StatusAccepted {
		t.Fatalf("POST async: %d %s", code, body)
	}
	if code, _ := op.do(http.MethodPost, protocol.PathJobs, j); code != http.StatusConflict {
		t.Errorf("POST while running: %d, want 409", code)
	}
	if code, _ := op.do(http.MethodGet, protocol.PathJobs+"/async-1", nil); code != http.StatusAccepted {
		t.Errorf("GET while running: %d, want 202", code)
	}
	close(release)
	select {
	case st := <-got:
		if st.ID != "async-1" || st.Status != protocol.StatusCompleted || st.Result.Records != 7 {
			t.Errorf("callback = %+v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
	}
	code, body := op.do(http.MethodGet, protocol.PathJobs+"/async-1", nil)
	if st := decode[protocol.JobStatus](t, body); code != 200 || st.Status != protocol.StatusCompleted {
		t.Errorf("GET after finish: %d %s", code, body)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := datasource.New(datasource.Config{}); err == nil {
		t.Error("New without a secret succeeded")
	}
	if _, err := datasource.New(datasource.Config{Secrets: []string{"not-a-secret"}}); err == nil {
		t.Error("New with a malformed secret succeeded")
	}
	if _, err := datasource.New(datasource.Config{Secrets: []string{secret}}); err == nil {
		t.Error("New without job functions succeeded")
	}
}

func TestValidateRefusesBeforeRunning(t *testing.T) {
	var ran atomic.Int32
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret}, AsyncTypes: []protocol.JobType{protocol.JobCorrect},
		Validate: func(j *protocol.Job) error {
			if j.Corrections[0].Field != "name" {
				return errors.New(`field "` + j.Corrections[0].Field + `" cannot be corrected here`)
			}
			return nil
		},
		Correct: func(context.Context, *protocol.Job) (datasource.Result, error) {
			ran.Add(1)
			return datasource.Result{Records: 1}, nil
		}})
	t.Cleanup(h.Close)
	op := newOperator(t, h)

	j := job("correct-1", protocol.JobCorrect)
	j.Corrections = []protocol.Correction{{Field: "password", Value: "x"}}
	code, body := op.do(http.MethodPost, protocol.PathJobs, j)
	if code != http.StatusUnprocessableEntity || decode[protocol.Error](t, body).Error != `field "password" cannot be corrected here` {
		t.Fatalf("invalid job answered %d %s, want 422 with the validator's message", code, body)
	}
	if ran.Load() != 0 {
		t.Fatal("a refused job ran")
	}
	if code, _ := op.do(http.MethodGet, protocol.PathJobs+"/correct-1", nil); code != http.StatusNotFound {
		t.Errorf("a refused job was recorded: GET answered %d", code)
	}
	// A valid job of a type in AsyncTypes is answered 202 although Async is false.
	j = job("correct-2", protocol.JobCorrect)
	j.Corrections = []protocol.Correction{{Field: "name", Value: "Ada"}}
	if code, body := op.do(http.MethodPost, protocol.PathJobs, j); code != http.StatusAccepted {
		t.Fatalf("job of an async type answered %d %s, want 202", code, body)
	}
}

// A callback to an operator whose listener serves a certificate of its own
// CA goes through once that CA is given as CallbackCABundle.
func TestCallbackTrustsTheGivenCA(t *testing.T) {
	got := make(chan struct{}, 1)
	cb := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cb.Certificate().Raw})
	acceptDeleteWithCallback(t, datasource.Config{CallbackCABundle: caPEM}, "tls-1", cb.URL)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the callback did not reach the TLS listener whose CA was given")
	}
	if _, err := datasource.New(datasource.Config{Secrets: []string{secret}, CallbackCABundle: []byte("not pem"),
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }}); err == nil {
		t.Error("a CallbackCABundle without a certificate was accepted")
	}
}

// acceptDeleteWithCallback serves an async source with cfg (its secret,
// and a Delete that finds one record), and has it accept Delete job id
// whose callback goes to base.
func acceptDeleteWithCallback(t *testing.T, cfg datasource.Config, id, base string) {
	t.Helper()
	cfg.Secrets, cfg.Async = []string{secret}, true
	cfg.Delete = func(context.Context, *protocol.Job) (datasource.Result, error) {
		return datasource.Result{Records: 1}, nil
	}
	h, err := datasource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	op := newOperator(t, h)
	j := job(id, protocol.JobDelete)
	j.CallbackURL = base + "/callbacks/" + id
	if code, body := op.do(http.MethodPost, protocol.PathJobs, j); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
}

// A callback answered 503 with Retry-After is sent again after that delay,
// not after the (shorter) backoff: the operator is changing leaders.
func TestCallbackHonoursRetryAfter(t *testing.T) {
	var arrivals []time.Time
	var mu sync.Mutex
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		first := len(arrivals) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	acceptDeleteWithCallback(t, datasource.Config{CallbackBackoff: 10 * time.Millisecond}, "retry-after-1", cb.URL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(arrivals)
		var gap time.Duration
		if n >= 2 {
			gap = arrivals[1].Sub(arrivals[0])
		}
		mu.Unlock()
		if n >= 2 {
			if gap < 2*time.Second {
				t.Errorf("second callback %s after a 503 with Retry-After: 2; want at least 2 s", gap)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the callback was not sent again")
		}
		time.Sleep(20 * time.Millisecond) // polling an HTTP server's record; no event to wait on
	}
}

// An async Access job whose callback cannot be delivered (no callbackURL:
// the operator polls) is answered once by a poll, then forgotten.
func TestAsyncAccessIsDeliveredByPollOnce(t *testing.T) {
	done := make(chan struct{})
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret}, Async: true,
		Access: func(context.Context, *protocol.Job) (datasource.Result, error) {
			defer close(done)
			return datasource.Result{Records: 1, Data: map[string]int{"orders": 1}}, nil
		}})
	t.Cleanup(h.Close)
	op := newOperator(t, h)
	if code, body := op.do(http.MethodPost, protocol.PathJobs, job("pr-async", protocol.JobAccess)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
	<-done
	var code int
	var body []byte
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		if code, body = op.do(http.MethodGet, protocol.PathJobs+"/pr-async", nil); code == http.StatusOK {
			break
		}
	}
	if st := decode[protocol.JobStatus](t, body); code != http.StatusOK || string(st.Result.Data) != `{"orders":1}` {
		t.Fatalf("poll after the job finished = %d %s; want the result", code, body)
	}
	if code, body := op.do(http.MethodGet, protocol.PathJobs+"/pr-async", nil); code != http.StatusNotFound {
		t.Errorf("second poll = %d %s; the data is kept no longer than its delivery", code, body)
	}
}

// A result whose encoding panics fails the job like a panicking function.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("boom") }

func TestPanicWhileEncodingTheResultFailsTheJob(t *testing.T) {
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{Data: panicky{}}, nil
		}})
	op := newOperator(t, h)
	code, body := op.do(http.MethodPost, protocol.PathJobs, job("pr-enc", protocol.JobDelete))
	if st := decode[protocol.JobStatus](t, body); code != http.StatusOK || st.Status != protocol.StatusFailed {
		t.Errorf("encoding panic: %d %s; want 200 Failed", code, body)
	}
}

// The SDK's own signed answer cannot be sent back to it as a request: a
// path with a space is refused before verification.
func TestAnswerCannotBeReplayedAsRequest(t *testing.T) {
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }})
	op := newOperator(t, h)
	req, _ := http.NewRequest(http.MethodGet, op.url+protocol.PathJobs+"/pr-1", nil)
	reqID, _ := protocol.SignRequest(req, protocol.PathJobs+"/pr-1", nil, time.Now(), op.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	forged, _ := http.NewRequest(http.MethodGet, op.url+protocol.PathJobs+"/pr-1%20"+reqID, bytes.NewReader(answer))
	for _, k := range []string{protocol.HeaderID, protocol.HeaderTimestamp, protocol.HeaderSignature} {
		forged.Header.Set(k, resp.Header.Get(k))
	}
	resp, err = http.DefaultClient.Do(forged)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Verified, it would reach the job lookup ("unknown job"); refused, it
	// never gets past the path check.
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(out), "no such path in the job protocol") {
		t.Errorf("an answer replayed as a request: %d %s, want 404 before any verification", resp.StatusCode, out)
	}
}

// A cancellation's 204 is signed like every other answer (op.send checks).
func TestCancelAnswerIsSigned(t *testing.T) {
	h, _ := datasource.New(datasource.Config{Secrets: []string{secret},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) { return datasource.Result{}, nil }})
	op := newOperator(t, h)
	if code, _ := op.do(http.MethodDelete, protocol.PathJobs+"/pr-unknown", nil); code != http.StatusNoContent {
		t.Errorf("DELETE = %d, want 204", code)
	}
}

// A refusal under an exemption answers Refused with its basis; one without
// a basis is a failure, never a silent Refused.
func TestRefuse(t *testing.T) {
	h, _ := datasource.New(datasource.Config{
		Secrets: []string{secret},
		Delete: func(_ context.Context, j *protocol.Job) (datasource.Result, error) {
			if j.ID == "bare" {
				return datasource.Result{}, datasource.Refuse("", "kept")
			}
			return datasource.Result{}, datasource.Refuse("CCPA 1798.105(d)(8)", "Orders of the last 90 days are kept to complete them.")
		},
	})
	op := newOperator(t, h)
	code, body := op.do(http.MethodPost, protocol.PathJobs, job("d", protocol.JobDelete))
	st := decode[protocol.JobStatus](t, body)
	if code != 200 || st.Status != protocol.StatusRefused || st.Exemption != "CCPA 1798.105(d)(8)" ||
		st.Message != "Orders of the last 90 days are kept to complete them." || !st.Status.Final() || st.Status.Succeeded() {
		t.Errorf("Refuse: %d %s", code, body)
	}
	code, body = op.do(http.MethodPost, protocol.PathJobs, job("bare", protocol.JobDelete))
	if st := decode[protocol.JobStatus](t, body); code != 200 || st.Status != protocol.StatusFailed || st.Exemption != "" {
		t.Errorf("Refuse without a basis: %d %s", code, body)
	}
}
