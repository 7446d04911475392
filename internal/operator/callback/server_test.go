package callback

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

const maxBody = 16 << 20

// filler yields n bytes without holding them, so that the test's own
// memory does not count.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), f.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	f.n -= k
	return int(k), nil
}

type fixture struct {
	// bodyRead is set when the listener reads a request body;
	// unsignedRead when it reads one that carries no signature header.
	bodyRead, unsignedRead atomic.Bool
	url                    string
	key                    protocol.Key
	d                      *dispatch.Dispatcher
	owner                  dispatch.Owner
	spool                  export.DirStore
	server                 *Server
}

// newFixture serves a callback listener as the operator wires it
// (internal/operator/wiring): a 16 MiB body limit and a budget of twice that plus
// 1 MiB, on loopback.
func newFixture(t *testing.T, budget int64) *fixture {
	t.Helper()
	key, _ := protocol.ParseKey(protocol.NewSecret())
	d := dispatch.New(dispatch.Options{})
	owner := dispatch.Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "access-ada"}}
	// Registered but never started: the job is open, nothing is sent.
	d.Submit(dispatch.Work{Owner: owner, Op: dispatch.OpPoll, JobID: "pr-1",
		Target: dispatch.Target{Source: types.NamespacedName{Namespace: "shop", Name: "billing"}, Keys: []protocol.Key{key}}})
	spool := export.DirStore{Dir: t.TempDir()}
	s := &Server{Dispatcher: d, MaxBodyBytes: maxBody, Budget: dispatch.NewBudget(budget), Spool: spool}
	f := &fixture{key: key, d: d, owner: owner, spool: spool, server: s}
	handler := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := &f.bodyRead
		if r.Header.Get(protocol.HeaderSignature) == "" {
			read = &f.unsignedRead
		}
		r.Body = &watchedBody{ReadCloser: r.Body, read: read, also: &f.bodyRead}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) post(t *testing.T, id string, body io.Reader, length int64, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+PathPrefix+id, body)
	req.ContentLength = length
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the server may close a connection it will not read
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// 50 unsigned 16 MiB callbacks and 50 with plausible headers and a forged
// signature, all at once, for a known job: the listener's heap stays under
// 64 MiB, and nothing reaches the dispatcher. The process runs with a memory
// limit, as the shipped Deployment does (GOMEMLIMIT), so that the garbage of
// refused bodies is collected rather than counted.
func TestCallbackFloodStaysWithinMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	f := newFixture(t, 2*maxBody+(1<<20))
	f.server.BudgetWait = 2 * time.Second // shorter than the operator's 10 s: the test waits for it
	runtime.GC()

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	forged, _ := protocol.ParseKey(protocol.NewSecret())
	var wg sync.WaitGroup
	var mu sync.Mutex
	unsigned, signed := map[int]int{}, map[int]int{}
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{}
			if i%2 == 1 {
				_, _ = protocol.Sign(h, []byte("x"), time.Now(), forged)
			}
			code := f.post(t, "pr-1", &filler{n: maxBody}, maxBody, h)
			mu.Lock()
			defer mu.Unlock()
			if i%2 == 1 {
				signed[code]++
			} else {
				unsigned[code]++
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	t.Logf("unsigned: %v; forged signature: %v; listener peak heap %.1f MiB", unsigned, signed, float64(peak.Load())/(1<<20))
	if unsigned[http.StatusNoContent]+signed[http.StatusNoContent] > 0 {
		t.Errorf("an unsigned or forged callback was accepted")
	}
	// The listener answers 401 without reading; a client still sending its
	// 16 MiB may see the connection closed before it reads that answer
	// (code 0), which is the same refusal.
	if unsigned[http.StatusUnauthorized]+unsigned[0] != 50 || unsigned[0] == 50 {
		t.Errorf("unsigned callbacks answered %v: every one must be refused 401", unsigned)
	}
	if f.unsignedRead.Load() {
		t.Error("the body of an unsigned callback was read")
	}
	if p := peak.Load(); p > 64<<20 {
		t.Errorf("peak heap %.1f MiB, want under 64 MiB", float64(p)/(1<<20))
	}
	if o := f.d.Outcomes(f.owner); len(o) != 0 {
		t.Errorf("refused callbacks reached the dispatcher: %v", o)
	}
}

// What is checked before the body is read: the job, the headers, the
// timestamp, the declared length and a free slot.
func TestCallbackRefusedBeforeBody(t *testing.T) {
	f := newFixture(t, 2*maxBody+(1<<20))
	h := http.Header{}
	_, _ = protocol.Sign(h, []byte("x"), time.Now(), f.key)

	// Each refusal below answers without reading the body.
	small := func() io.Reader { return &filler{n: 10} }
	if code := f.post(t, "pr-unknown", small(), 10, h); code != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", code)
	}
	if code := f.post(t, "pr-1", small(), 10, http.Header{}); code != http.StatusUnauthorized {
		t.Errorf("no signature headers: %d, want 401", code)
	}
	stale := http.Header{}
	_, _ = protocol.Sign(stale, []byte("x"), time.Now().Add(-time.Hour), f.key)
	if code := f.post(t, "pr-1", small(), 10, stale); code != http.StatusUnauthorized {
		t.Errorf("stale timestamp: %d, want 401", code)
	}
	if code := f.post(t, "pr-1", &filler{n: maxBody + 1}, maxBody+1, h); code != http.StatusRequestEntityTooLarge && code != 0 {
		t.Errorf("declared length above the limit: %d, want 413", code)
	}
	if f.bodyRead.Load() {
		t.Error("a body was read before the callback could be refused")
	}
	// A body longer than the limit without a declared length is cut off.
	h = http.Header{}
	_, _ = protocol.Sign(h, []byte("x"), time.Now(), f.key)
	if code := f.post(t, "pr-1", &filler{n: maxBody + 1}, -1, h); code != http.StatusRequestEntityTooLarge && code != 0 {
		t.Errorf("chunked body above the limit: %d, want 413", code)
	}

	// Beyond MaxConcurrent, 429 with Retry-After.
	for range f.server.MaxConcurrent {
		f.server.slots <- struct{}{}
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+PathPrefix+"pr-1", &filler{n: 10})
	h2 := http.Header{}
	_, _ = protocol.Sign(h2, []byte("x"), time.Now(), f.key)
	req.Header = h2
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("all slots busy: %d Retry-After=%q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for range f.server.MaxConcurrent {
		<-f.server.slots
	}
}

type watchedBody struct {
	io.ReadCloser
	read, also *atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	b.also.Store(true)
	return b.ReadCloser.Read(p)
}

// A genuine callback's Access data goes to the spool, not into memory: the
// outcome names the file.
func TestCallbackSpoolsAccessData(t *testing.T) {
	f := newFixture(t, 2*maxBody+(1<<20))
	body, _ := json.Marshal(protocol.JobStatus{ID: "pr-1", Status: protocol.StatusCompleted,
		Result: &protocol.Result{Records: 2, Data: json.RawMessage(`{"orders":[1,2]}`)}})
	h := http.Header{}
	_, _ = protocol.Sign(h, protocol.RequestPayload(http.MethodPost, "/callbacks/pr-1", body), time.Now(), f.key)
	if code := f.post(t, "pr-1", bytesReader(body), int64(len(body)), h); code != http.StatusNoContent {
		t.Fatalf("genuine callback: %d", code)
	}
	o := f.d.Outcomes(f.owner)["pr-1"]
	if o.Status == nil || o.Status.Result.Records != 2 || len(o.Status.Result.Data) != 0 || o.DataFile == "" {
		t.Fatalf("outcome %+v: want the records in status and the data in a spool file", o)
	}
	if err := f.spool.AdoptPart(t.Context(), "uid-1", "shop_billing", o.DataFile); err != nil {
		t.Fatal(err)
	}

	// The same body signed for another path is refused: signatures are
	// bound to the callback's path.
	h = http.Header{}
	_, _ = protocol.Sign(h, protocol.RequestPayload(http.MethodPost, "/callbacks/pr-2", body), time.Now(), f.key)
	if code := f.post(t, "pr-1", bytesReader(body), int64(len(body)), h); code != http.StatusUnauthorized {
		t.Errorf("callback signed for another job's path: %d, want 401", code)
	}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A declared length reserves nothing: senders that declare 16 MiB and send
// nothing (they know a job id, not the key) hold no budget, and a genuine
// callback still goes through.
func TestDeclaredLengthReservesNothing(t *testing.T) {
	f := newFixture(t, 2*maxBody+(1<<20))
	for range 8 {
		c, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /callbacks/pr-1 HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_forged\r\nwebhook-timestamp: %d\r\nwebhook-signature: v1,AAAA\r\nContent-Length: %d\r\n\r\n",
			time.Now().Unix(), maxBody)
	}
	// Nothing the listener exposes marks that it has read those headers;
	// give it a moment so that they are in before the genuine callback.
	time.Sleep(200 * time.Millisecond)
	body, _ := json.Marshal(protocol.JobStatus{ID: "pr-1", Status: protocol.StatusCompleted})
	h := http.Header{}
	_, _ = protocol.Sign(h, protocol.RequestPayload(http.MethodPost, "/callbacks/pr-1", body), time.Now(), f.key)
	if code := f.post(t, "pr-1", bytesReader(body), int64(len(body)), h); code != http.StatusNoContent {
		t.Errorf("a genuine callback while 8 senders declared 16 MiB and sent nothing: %d, want 204", code)
	}
}

// A slow sender is not refused for being slow: the wait for memory applies
// to each allocation, not to the whole read.
func TestSlowChunkedCallbackIsAccepted(t *testing.T) {
	f := newFixture(t, 2*maxBody+(1<<20))
	f.server.BudgetWait = 200 * time.Millisecond
	data := `{"rows":"` + strings.Repeat("x", 200<<10) + `"}`
	body, _ := json.Marshal(protocol.JobStatus{ID: "pr-1", Status: protocol.StatusCompleted,
		Result: &protocol.Result{Records: 1, Data: json.RawMessage(data)}})
	h := http.Header{}
	_, _ = protocol.Sign(h, protocol.RequestPayload(http.MethodPost, "/callbacks/pr-1", body), time.Now(), f.key)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(body[:100])
		time.Sleep(time.Second) // five times BudgetWait
		_, _ = pw.Write(body[100:])
		pw.Close()
	}()
	if code := f.post(t, "pr-1", pr, -1, h); code != http.StatusNoContent {
		t.Errorf("a slow chunked callback: %d, want 204", code)
	}
}
