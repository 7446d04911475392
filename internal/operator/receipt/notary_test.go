package receipt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outage is a store that fails every call while down.
type outage struct {
	Store
	down atomic.Bool
}

var errDown = errors.New("store unreachable")

func (s *outage) Create(ctx context.Context, name string, data []byte) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Create(ctx, name, data)
}

func (s *outage) Get(ctx context.Context, name string) ([]byte, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Get(ctx, name)
}

func (s *outage) List(ctx context.Context, after string) ([]string, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.List(ctx, after)
}

// wakes counts the Notary's wake calls by id.
type wakes struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *wakes) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		w.n = map[string]int{}
	}
	w.n[id]++
}

func (w *wakes) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[id]
}

// startNotary runs a Notary on store until the test ends.
func startNotary(t *testing.T, store Store, signer Signer, clock *testClock, w *wakes, opts NotaryOptions) *Notary {
	t.Helper()
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 20*time.Millisecond
	opts.Clock = clock.Now
	n := NewNotary(func(ctx context.Context) (*Log, error) {
		return OpenLog(ctx, store, fixed(signer), clock.Now)
	}, w.wake, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	return n
}

// A store that is down when the Notary starts and while receipts come in
// loses none of them, and writes them in submission order once it is back;
// owners are woken with the error meanwhile, and after the write.
func TestNotaryRidesOutAnOutage(t *testing.T) {
	s := &outage{Store: dirStore(t)}
	s.down.Store(true)
	signer, clock, w := newSigner(t), newClock(), &wakes{}
	var pending atomic.Int64
	n := startNotary(t, s, signer, clock, w, NotaryOptions{OnPending: func(c int) { pending.Store(int64(c)) }})
	for i := range 5 {
		n.Submit(fmt.Sprintf("req-%d", i), requestReceipt(i))
	}
	eventually(t, "the owners hear why their receipts wait", func() bool {
		_, err, written := n.Result("req-4")
		return errors.Is(err, errDown) && !written && w.count("req-4") > 0
	})
	if n.Pending() != 5 || pending.Load() != 5 {
		t.Fatalf("pending %d (hook %d), want 5", n.Pending(), pending.Load())
	}
	s.down.Store(false)
	eventually(t, "every receipt is written", func() bool { return n.Pending() == 0 })
	for i := range 5 {
		id := fmt.Sprintf("req-%d", i)
		ref, err, written := n.Result(id)
		if !written || err != nil || ref.Sequence != uint64(i+1) {
			t.Fatalf("%s: %+v %v %v", id, ref, err, written)
		}
		_, r, _ := Decode(mustGet(t, s, ref.Name))
		if r.Request.Name != fmt.Sprintf("erase-%d", i) {
			t.Fatalf("%s holds %s: out of order", ref.Name, r.Request.Name)
		}
		if w.count(id) < 2 {
			t.Errorf("%s woken %d times, want after the failure and after the write", id, w.count(id))
		}
	}
	if pending.Load() != 0 {
		t.Errorf("pending hook says %d", pending.Load())
	}
	if rep := verified(t, s, signer); !rep.OK() || rep.Receipts != 5 {
		t.Fatalf("report %+v", rep)
	}

	// An outage after the log is open: writes fail, wait, then go on.
	s.down.Store(true)
	n.Submit("req-5", requestReceipt(5))
	eventually(t, "the failure is reported", func() bool {
		_, err, _ := n.Result("req-5")
		return errors.Is(err, errDown)
	})
	s.down.Store(false)
	eventually(t, "the receipt is written", func() bool {
		ref, err, written := n.Result("req-5")
		return written && err == nil && ref.Sequence == 6
	})
}

func TestNotarySubmitIsIdempotent(t *testing.T) {
	s, signer, clock, w := dirStore(t), newSigner(t), newClock(), &wakes{}
	n := startNotary(t, s, signer, clock, w, NotaryOptions{})
	n.Submit("a", requestReceipt(1))
	n.Submit("a", requestReceipt(2))
	eventually(t, "a is written", func() bool { _, _, written := n.Result("a"); return written })
	n.Submit("a", requestReceipt(3))
	n.Submit("b", requestReceipt(4))
	eventually(t, "b is written", func() bool { _, _, written := n.Result("b"); return written })
	if ref, _, _ := n.Result("b"); ref.Sequence != 2 {
		t.Fatalf("b at %d: a was written twice", ref.Sequence)
	}
	n.Forget("a")
	if _, _, written := n.Result("a"); written {
		t.Fatal("a forgotten, still written")
	}
	n.Submit("a", requestReceipt(1))
	eventually(t, "a is written again", func() bool { ref, _, written := n.Result("a"); return written && ref.Sequence == 3 })

	// A receipt that could never be written is not queued.
	n.Submit("bad", &Receipt{Kind: KindSweep})
	if _, err, written := n.Result("bad"); err == nil || written || n.Pending() != 0 {
		t.Fatalf("bad: %v %v, pending %d", err, written, n.Pending())
	}
	if !n.NeedLeaderElection() {
		t.Error("the Notary must run on the leader only")
	}
}

// The Notary sweeps the log on its interval, with its clock.
func TestNotarySweeps(t *testing.T) {
	s, signer, clock, w := dirStore(t), newSigner(t), newClock(), &wakes{}
	appendN(t, openLog(t, s, signer, clock), 4)
	clock.Add(3 * day)
	var removed atomic.Int64
	var sweeps atomic.Int64
	startNotary(t, s, signer, clock, w, NotaryOptions{
		Retention: day, SweepInterval: 10 * time.Millisecond,
		OnSweep: func(n int, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			removed.Add(int64(n))
			sweeps.Add(1)
		},
	})
	// The first sweep keeps receipt 4, then the newest; the next one
	// removes it, the Sweep receipts being young.
	eventually(t, "the old receipts are swept", func() bool { return removed.Load() == 4 })
	eventually(t, "another sweep runs", func() bool { return sweeps.Load() > 3 })
	if removed.Load() != 4 {
		t.Fatalf("removed %d", removed.Load())
	}
	if rep := verified(t, s, signer); !rep.OK() || rep.First != 5 {
		t.Fatalf("report %+v", rep)
	}
}
