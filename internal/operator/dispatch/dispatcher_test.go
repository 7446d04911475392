package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// gatedExchanger blocks exchanges at "slow" until released and counts the
// exchanges open at each source.
type gatedExchanger struct {
	release chan struct{}
	mu      sync.Mutex
	open    map[string]int
	peak    map[string]int
	done    atomic.Int32
}

func (g *gatedExchanger) Exchange(ctx context.Context, w Work) Outcome {
	src := w.Target.Source.Name
	g.mu.Lock()
	g.open[src]++
	g.peak[src] = max(g.peak[src], g.open[src])
	g.mu.Unlock()
	if src == "slow" {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	g.mu.Lock()
	g.open[src]--
	g.mu.Unlock()
	g.done.Add(1)
	return Outcome{Result: ResultAccepted}
}

func TestPerSourceConcurrencyAndIsolation(t *testing.T) {
	ex := &gatedExchanger{release: make(chan struct{}), open: map[string]int{}, peak: map[string]int{}}
	notified := make(chan Owner, 100)
	d := New(Options{Exchanger: ex, Notify: func(o Owner) { notified <- o }, MaxInFlight: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Start(ctx) }()

	owner := Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "r"}}
	submit := func(src string, i int, limit int) {
		d.Submit(Work{Owner: owner, Op: OpDeliver, JobID: src + string(rune('a'+i)),
			Target: Target{Source: types.NamespacedName{Namespace: "ns", Name: src}, MaxConcurrency: limit}})
	}
	for i := range 6 {
		submit("slow", i, 2)
	}
	for i := range 5 {
		submit("fast", i, 1)
	}
	// The fast source finishes all its work while the slow one is stuck.
	deadline := time.After(5 * time.Second)
	for n := 0; n < 5; n++ {
		select {
		case <-notified:
		case <-deadline:
			t.Fatalf("a stuck source delayed another: %d of 5 fast jobs done", n)
		}
	}
	// The slow source holds exactly its maxConcurrency of exchanges open.
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		ex.mu.Lock()
		open := ex.open["slow"]
		ex.mu.Unlock()
		if open == 2 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("slow source has %d exchanges open, want 2", open)
		}
	}
	if !d.InFlight("slowa", OpDeliver) {
		t.Error("an open exchange is not reported in flight")
	}
	if d.Submit(Work{Owner: owner, Op: OpDeliver, JobID: "slowa", Target: Target{Source: types.NamespacedName{Name: "slow"}}}) {
		t.Error("a second submit of an open job was queued")
	}
	close(ex.release)
	for n := 0; n < 6; n++ {
		<-notified
	}
	ex.mu.Lock()
	if ex.peak["slow"] != 2 || ex.peak["fast"] != 1 {
		t.Errorf("peak open exchanges = %v, want slow=2 fast=1 (maxConcurrency)", ex.peak)
	}
	ex.mu.Unlock()
	outcomes := d.Outcomes(owner)
	if len(outcomes) != 11 {
		t.Fatalf("outcomes = %d, want 11", len(outcomes))
	}
	d.Ack(owner, outcomes)
	if len(d.Outcomes(owner)) != 0 {
		t.Error("acknowledged outcomes are still kept")
	}
}

func TestAckKeepsNewerOutcome(t *testing.T) {
	d := New(Options{})
	owner := Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "r"}}
	register(d, owner, "j")
	t0 := time.Unix(100, 0)
	d.Record(owner, Outcome{JobID: "j", Op: OpDeliver, Result: ResultAccepted, At: t0})
	seen := d.Outcomes(owner)
	d.Record(owner, Outcome{JobID: "j", Op: OpCallback, Result: ResultFinal, At: t0.Add(time.Second)})
	d.Ack(owner, seen)
	if got := d.Outcomes(owner)["j"]; got.Result != ResultFinal {
		t.Errorf("after acking the older outcome, kept %+v; want the newer final one", got)
	}
}

func TestPendingCoversOpenAndUnacknowledged(t *testing.T) {
	release := make(chan struct{})
	ex := &gatedExchanger{release: release, open: map[string]int{}, peak: map[string]int{}}
	notified := make(chan Owner, 1)
	d := New(Options{Exchanger: ex, Notify: func(o Owner) { notified <- o }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Start(ctx) }()
	owner := Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "r"}}
	d.Submit(Work{Owner: owner, Op: OpDeliver, JobID: "j", Target: Target{Source: types.NamespacedName{Name: "slow"}, MaxConcurrency: 1}})
	if !d.Pending(owner, "j", OpDeliver) {
		t.Fatal("an open exchange is not pending")
	}
	close(release)
	<-notified
	if !d.Pending(owner, "j", OpDeliver) {
		t.Fatal("a finished exchange whose outcome is not acknowledged is not pending")
	}
	d.Ack(owner, d.Outcomes(owner))
	if d.Pending(owner, "j", OpDeliver) {
		t.Error("an acknowledged exchange is still pending")
	}
}

// register makes jobID an open job of owner, without running anything (the
// dispatcher is not started).
func register(d *Dispatcher, owner Owner, jobID string) {
	d.Submit(Work{Owner: owner, Op: OpPoll, JobID: jobID, Target: Target{Source: types.NamespacedName{Name: "src"}}})
}
