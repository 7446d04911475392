package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// One source that hangs every exchange, with the largest maxConcurrency the
// API allows, must not delay a healthy source's job or probe: each source
// holds at most its share of the global slots, and probes have their own.
func TestHangingSourceDoesNotStarveOthers(t *testing.T) {
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)

	secret := protocol.NewSecret()
	key, _ := protocol.ParseKey(secret)
	h, err := datasource.New(datasource.Config{Secrets: []string{secret}, Identities: []string{"email"},
		Delete: func(context.Context, *protocol.Job) (datasource.Result, error) {
			return datasource.Result{Records: 1}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	healthy := httptest.NewServer(h)
	defer healthy.Close()

	done := make(chan Outcome, 16)
	owner := Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "r"}}
	var d *Dispatcher
	d = New(Options{
		Exchanger:   NewClient(ClientOptions{}),
		MaxInFlight: 256,
		Notify: func(o Owner) {
			for id, out := range d.Outcomes(o) {
				if id == "healthy-job" || id == "probe-healthy" {
					done <- out
				}
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Start(ctx) }()

	hangTarget := Target{Source: types.NamespacedName{Namespace: "a", Name: "hanging"}, BaseURL: hanging.URL,
		Keys: []protocol.Key{key}, Timeout: 10 * time.Minute, MaxConcurrency: 1000}
	for i := range 1000 {
		d.Submit(Work{Owner: owner, Op: OpDeliver, JobID: fmt.Sprintf("hang-%d", i), Target: hangTarget,
			Job: &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: fmt.Sprintf("hang-%d", i), Type: protocol.JobDelete}})
	}
	// Also hang the probe slots' neighbours: probes of the hanging source.
	for i := range 20 {
		d.Submit(Work{Owner: owner, Op: OpProbe, JobID: fmt.Sprintf("probe-hang-%d", i), Target: hangTarget})
	}

	healthyTarget := Target{Source: types.NamespacedName{Namespace: "b", Name: "healthy"}, BaseURL: healthy.URL,
		Keys: []protocol.Key{key}, Timeout: 5 * time.Second, MaxConcurrency: 1}
	start := time.Now()
	job := &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: "healthy-job", Type: protocol.JobDelete,
		Subject: &protocol.Subject{Identities: map[string]string{"email": "a@example.com"}}}
	d.Submit(Work{Owner: owner, Op: OpDeliver, JobID: "healthy-job", Target: healthyTarget, Job: job})
	d.Submit(Work{Owner: owner, Op: OpProbe, JobID: "probe-healthy", Target: healthyTarget})
	got := map[string]Outcome{}
	timeout := time.After(2 * time.Second)
	for len(got) < 2 {
		select {
		case o := <-done:
			got[o.JobID] = o
		case <-timeout:
			t.Fatalf("after 2 s behind a hanging source with maxConcurrency 1000, the healthy source got %v", keys(got))
		}
	}
	if o := got["healthy-job"]; o.Result != ResultFinal || o.Status.Status != protocol.StatusCompleted {
		b, _ := json.Marshal(o)
		t.Errorf("healthy job: %s", b)
	}
	if o := got["probe-healthy"]; o.Result != ResultFinal || o.Capabilities == nil {
		t.Errorf("healthy probe: %+v", o)
	}
	t.Logf("healthy job and probe done %v after 1000 hanging jobs", time.Since(start))
}

func keys(m map[string]Outcome) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	return out
}
