package dispatch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

var testOwner = Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "r"}}

// A poll that answers Running after the final callback was stored must not
// replace it: the job is over.
func TestFinalOutcomeIsNeverReplacedByALaterNonFinalOne(t *testing.T) {
	d := New(Options{})
	register(d, testOwner, "j")
	t0 := time.Unix(100, 0)
	d.Record(testOwner, Outcome{JobID: "j", Op: OpCallback, Result: ResultFinal, Status: &protocol.JobStatus{ID: "j", Status: protocol.StatusCompleted}, At: t0})
	for _, later := range []Result{ResultRunning, ResultAccepted, ResultRetry, ResultPermanent} {
		d.mu.Lock()
		d.storeLocked(testOwner, Outcome{JobID: "j", Op: OpPoll, Result: later, At: t0.Add(time.Second)})
		d.mu.Unlock()
		if got := d.Outcomes(testOwner)["j"]; got.Result != ResultFinal {
			t.Errorf("kept %+v after a later %s; want the final callback", got, later)
		}
	}

	// A callback for a job that ended (released, or its owner deleted)
	// while it was read is not kept, nor its spooled data.
	spooled := filepath.Join(t.TempDir(), "data.json")
	_ = os.WriteFile(spooled, []byte(`{"email":"ada@example.com"}`), 0o600)
	d.Forget(testOwner)
	if d.Record(testOwner, Outcome{JobID: "j", Op: OpCallback, Result: ResultFinal, DataFile: spooled, At: t0}) {
		t.Error("a callback for a forgotten job was recorded")
	}
	if _, err := os.Stat(spooled); !os.IsNotExist(err) {
		t.Errorf("the spooled data of a late callback is still on disk: %v", err)
	}
}

// Jobs that ended without a final answer (exhausted retries, a deadline, a
// deleted DataSource) are released by their owner: 1000 of them leave
// nothing behind.
func TestReleasedJobsLeaveNoEntries(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	key, _ := protocol.ParseKey(protocol.NewSecret())
	done := make(chan struct{}, 1000)
	d := New(Options{Exchanger: NewClient(ClientOptions{}), Notify: func(Owner) { done <- struct{}{} }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Start(ctx) }()
	target := Target{Source: types.NamespacedName{Namespace: "a", Name: "failing"}, BaseURL: failing.URL, Keys: []protocol.Key{key}, Timeout: 5 * time.Second, MaxConcurrency: 16}
	var ids []string
	for i := range 1000 {
		id := fmt.Sprintf("job-%d", i)
		ids = append(ids, id)
		d.Submit(Work{Owner: testOwner, Op: OpDeliver, JobID: id, Target: target,
			Job: &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: id, Type: protocol.JobDelete}})
	}
	for range 1000 {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the exchanges did not end")
		}
	}
	if jobs, owners := d.Entries(); jobs != 1000 || owners != 1 {
		t.Fatalf("before release: %d jobs, %d owners with outcomes; want 1000 and 1", jobs, owners)
	}
	d.Ack(testOwner, d.Outcomes(testOwner)) // the reconciler recorded the failures
	d.Release(testOwner, ids)               // and the sources ended (retries exhausted)
	if jobs, owners := d.Entries(); jobs != 0 || owners != 0 {
		t.Errorf("after release: %d jobs, %d owners with outcomes; want none", jobs, owners)
	}
	if _, ok := d.Lookup("job-7"); ok {
		t.Error("a released job still accepts callbacks")
	}
}

// Forget drops the registrations of the deleted owner only: other owners'
// jobs still take their callbacks.
func TestForgetDropsOnlyTheOwnersJobs(t *testing.T) {
	d := New(Options{})
	other := Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "other"}}
	for i := range 100 {
		register(d, testOwner, fmt.Sprintf("mine-%d", i))
		register(d, other, fmt.Sprintf("theirs-%d", i))
	}
	d.Forget(testOwner)
	if jobs, _ := d.Entries(); jobs != 100 {
		t.Errorf("after Forget: %d jobs registered; want the other owner's 100", jobs)
	}
	if _, ok := d.Lookup("mine-3"); ok {
		t.Error("a forgotten owner's job still accepts callbacks")
	}
	if r, ok := d.Lookup("theirs-3"); !ok || r.Owner != other {
		t.Errorf("another owner's job: %+v, %v; want it registered to %v", r, ok, other)
	}
	d.Forget(other)
	if jobs, owners := d.Entries(); jobs != 0 || owners != 0 {
		t.Errorf("after forgetting both: %d jobs, %d owners; want none", jobs, owners)
	}
}

// An answer signed for one request is refused for another: a captured 202
// cannot be replayed as the answer to any other job.
func TestReplayedAnswerIsRefused(t *testing.T) {
	key, _ := protocol.ParseKey(protocol.NewSecret())
	captured := http.Header{}
	body := []byte(`{"id":"pr-1","status":"Running"}`)
	_, _ = protocol.Sign(captured, protocol.AnswerPayload(http.MethodPost, "/jobs", protocol.NewMessageID(), body), time.Now(), key)
	replayer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range captured {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	}))
	defer replayer.Close()
	c := NewClient(ClientOptions{})
	o := c.Exchange(context.Background(), Work{Op: OpDeliver, JobID: "pr-1",
		Job:    &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: "pr-1", Type: protocol.JobDelete},
		Target: Target{BaseURL: replayer.URL, Keys: []protocol.Key{key}, Timeout: 5 * time.Second}})
	if o.Result != ResultRetry || o.Reason != privacyv1alpha1.ReasonSignatureMismatch {
		t.Errorf("replayed 202: %+v; want a signature mismatch", o)
	}
}

// A 202 naming another job is not taken as this job's acceptance.
func TestAnswerMustNameItsJob(t *testing.T) {
	key, _ := protocol.ParseKey(protocol.NewSecret())
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := []byte(`{"id":"pr-other","status":"Running"}`)
		_, _ = protocol.Sign(w.Header(), protocol.AnswerPayload(r.Method, r.URL.Path, r.Header.Get(protocol.HeaderID), body), time.Now(), key)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	}))
	defer other.Close()
	o := NewClient(ClientOptions{}).Exchange(context.Background(), Work{Op: OpDeliver, JobID: "pr-1",
		Job:    &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: "pr-1", Type: protocol.JobDelete},
		Target: Target{BaseURL: other.URL, Keys: []protocol.Key{key}, Timeout: 5 * time.Second}})
	if o.Result != ResultRetry || !strings.Contains(o.Message, "names job pr-other") {
		t.Errorf("202 for another job: %+v", o)
	}
}

// Probe failures read the same whatever answers on the port, so that the
// Ready message cannot be used to scan ports of other hosts.
func TestTransportFailuresAreCoarse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("SSH-2.0-OpenSSH_9.6 secret-banner\r\n"))
			conn.Close()
		}
	}()
	key, _ := protocol.ParseKey(protocol.NewSecret())
	o := NewClient(ClientOptions{}).Exchange(context.Background(), Work{Op: OpProbe, JobID: "probe",
		Target: Target{BaseURL: "http://" + l.Addr().String(), Keys: []protocol.Key{key}, Timeout: 5 * time.Second}})
	if o.Reason != privacyv1alpha1.ReasonEndpointUnreachable || o.Message != "could not complete an HTTP exchange with the endpoint" {
		t.Errorf("probe of a non-HTTP service: %q %q; want the coarse reason and message", o.Reason, o.Message)
	}
	if strings.Contains(o.Message, "SSH") || strings.Contains(o.Message, l.Addr().String()) {
		t.Errorf("the message leaks what listens there: %q", o.Message)
	}
}
