package receipt

import (
	"bytes"
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
	n, stop := runNotary(t, store, signer, clock, w, opts)
	t.Cleanup(stop)
	return n
}

// runNotary runs a Notary on store until stop, which is what a crash or a
// lost leadership looks like to the log: nothing is forgotten or settled.
// The backoff is a few milliseconds unless opts say otherwise.
func runNotary(t *testing.T, store Store, signer Signer, clock *testClock, w *wakes, opts NotaryOptions) (n *Notary, stop func()) {
	t.Helper()
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 20*time.Millisecond
	}
	opts.Clock = clock.Now
	n = NewNotary(func(ctx context.Context) (*Log, error) {
		return OpenLog(ctx, store, fixed(signer), clock.Now)
	}, w.wake, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Start(ctx) }()
	var once sync.Once
	return n, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start: %v", err)
			}
		})
	}
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
	if !n.Known("a") || n.Known("c") {
		t.Fatal("Known: a was submitted, c was not")
	}
	n.Forget("a")
	if _, _, written := n.Result("a"); written || n.Known("a") {
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

// written waits until id's receipt is written and returns its Ref.
func written(t *testing.T, n *Notary, id string) Ref {
	t.Helper()
	var ref Ref
	eventually(t, id+" is written", func() bool {
		r, _, ok := n.Result(id)
		ref = r
		return ok
	})
	return ref
}

// receiptCount is the number of receipts in store.
func receiptCount(t *testing.T, s Store) int {
	t.Helper()
	names, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(receiptNames(names))
}

// A leader that appended receipts and crashed before their owners recorded
// the references: the next leader answers their Submits with the
// receipts already in the log instead of appending them again, as far
// back as its TailIndex reaches.
func TestNotaryDoesNotRewriteTheLastLeadersReceipts(t *testing.T) {
	s, signer, clock, w := dirStore(t), newSigner(t), newClock(), &wakes{}
	first, crash := runNotary(t, s, signer, clock, w, NotaryOptions{})
	var before []Ref
	for i := range 4 {
		r := requestReceipt(i)
		first.Submit(OwnerID(r), r)
		before = append(before, written(t, first, OwnerID(r)))
	}
	crash()

	next := startNotary(t, s, signer, clock, &wakes{}, NotaryOptions{TailIndex: 3})
	for i := 1; i < 4; i++ {
		r := requestReceipt(i)
		next.Submit(OwnerID(r), r)
		if ref := written(t, next, OwnerID(r)); ref != before[i] {
			t.Fatalf("receipt %d: %+v, want the one written before, %+v", i, ref, before[i])
		}
	}
	if got := receiptCount(t, s); got != 4 {
		t.Fatalf("%d receipts after the new leader's Submits, want the 4 written before", got)
	}
	// Beyond the tail: written again (the remaining window, documented).
	r := requestReceipt(0)
	next.Submit(OwnerID(r), r)
	if ref := written(t, next, OwnerID(r)); ref.Sequence != 5 {
		t.Fatalf("receipt 0, beyond a tail of 3: %+v, want it appended as 5", ref)
	}

	// The index follows the Notary's own appends, and keeps only the
	// last TailIndex of them: receipt 1 left it when 0 was appended.
	next.Forget(OwnerID(r))
	next.Submit(OwnerID(r), r)
	if ref, _, ok := next.Result(OwnerID(r)); !ok || ref.Sequence != 5 {
		t.Fatalf("receipt 0 submitted again after Forget: %+v %v, want 5 at once", ref, ok)
	}
	r1 := requestReceipt(1)
	next.Forget(OwnerID(r1))
	next.Submit(OwnerID(r1), r1)
	if ref := written(t, next, OwnerID(r1)); ref.Sequence != 6 {
		t.Fatalf("receipt 1, out of the index: %+v, want it appended as 6", ref)
	}
	if rep := verified(t, s, signer); !rep.OK() || rep.Receipts != 6 {
		t.Fatalf("report %+v", rep)
	}
}

// Receipts submitted while the log cannot be opened are answered from the
// tail once it is, and their owners woken, without an append.
func TestNotaryAnswersReceiptsQueuedBeforeTheLogOpened(t *testing.T) {
	base, signer, clock := dirStore(t), newSigner(t), newClock()
	refs := appendN(t, openLog(t, base, signer, clock), 2)
	s, w := &outage{Store: base}, &wakes{}
	s.down.Store(true)
	n := startNotary(t, s, signer, clock, w, NotaryOptions{})
	ids := []string{OwnerID(requestReceipt(1)), OwnerID(requestReceipt(2)), OwnerID(requestReceipt(3))}
	for i, id := range ids {
		n.Submit(id, requestReceipt(i+1))
	}
	eventually(t, "the owners hear why their receipts wait", func() bool { return w.count(ids[2]) > 0 })
	s.down.Store(false)
	for i, want := range []uint64{1, 2, 3} {
		ref := written(t, n, ids[i])
		if ref.Sequence != want || (i < 2 && ref != refs[i]) {
			t.Fatalf("%s at %+v, want sequence %d", ids[i], ref, want)
		}
		if w.count(ids[i]) < 2 {
			t.Errorf("%s woken %d times, want after the failure and once written", ids[i], w.count(ids[i]))
		}
	}
	if got := receiptCount(t, s); got != 3 {
		t.Fatalf("%d receipts, want 3", got)
	}
}

// OwnerID is the controllers' receipt id; its format is a contract.
func TestOwnerID(t *testing.T) {
	run := &Receipt{Kind: KindRetentionRun, Retention: &RetentionRun{
		Policy:        PolicyRef{Name: "logs-90d", UID: "6f1c"},
		ScheduledTime: time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600)),
	}}
	for r, want := range map[*Receipt]string{
		requestReceipt(7): "PrivacyRequest/erase-7/00000000-0000-0000-0000-000000000007",
		run:               "RetentionPolicy/logs-90d/6f1c/2026-03-01T12:00:00Z",
		{Kind: KindSweep, Sweep: &Sweep{RemovedThrough: 3}}: "",
	} {
		if got := OwnerID(r); got != want {
			t.Errorf("OwnerID(%s) = %q, want %q", r.Kind, got, want)
		}
	}
}

// lostAnswer is a store whose first Create of an object holding match
// stores it and then fails, as a write whose answer the network lost.
type lostAnswer struct {
	Store
	match []byte
	lost  atomic.Bool
}

func (s *lostAnswer) Create(ctx context.Context, name string, data []byte) error {
	if err := s.Store.Create(ctx, name, data); err != nil {
		return err
	}
	if bytes.Contains(data, s.match) && s.lost.CompareAndSwap(false, true) {
		return errors.New("connection reset")
	}
	return nil
}

// A sweep that fell due while a failed write waits out its backoff waits
// too: its Sweep receipt would move the log past the receipt the failed
// write stored, and the retry would append it a second time.
func TestNotaryDoesNotSweepDuringABackoff(t *testing.T) {
	r := requestReceipt(9)
	s := &lostAnswer{Store: dirStore(t), match: []byte(`"name":"` + r.Request.Name + `"`)}
	signer, clock, w := newSigner(t), newClock(), &wakes{}
	appendN(t, openLog(t, s, signer, clock), 3)
	clock.Add(2 * day)
	var removed atomic.Int64
	n := startNotary(t, s, signer, clock, w, NotaryOptions{
		Retention: 3 * day, SweepInterval: 5 * time.Millisecond,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: time.Second,
		OnSweep: func(n int, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			removed.Add(int64(n))
		},
	})
	n.Submit(OwnerID(r), r)
	eventually(t, "the write fails", func() bool { _, err, _ := n.Result(OwnerID(r)); return err != nil })
	// Receipts 1 to 3 are past their retention now, during the backoff,
	// and sweeps fall due every 5 ms; the receipt itself is younger.
	clock.Add(2 * day)
	ref := written(t, n, OwnerID(r))
	if ref.Sequence != 4 {
		t.Fatalf("written at %+v, want 4, where the failed write stored it", ref)
	}
	eventually(t, "the sweep runs after the write", func() bool { return removed.Load() == 3 })
	count := 0
	if err := readAll(context.Background(), s, func(_ string, data []byte) {
		if _, got, err := Decode(data); err == nil && got.Kind == KindPrivacyRequest && got.Request.Name == r.Request.Name {
			count++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Fatalf("the receipt is in the log %d times", count)
	}
	if rep := verified(t, s, signer); !rep.OK() {
		t.Fatalf("report %+v", rep)
	}
}
