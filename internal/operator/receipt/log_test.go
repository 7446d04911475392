package receipt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestAppendChainsReceipts(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer, clock := newSigner(t), newClock()
		l := openLog(t, s, signer, clock)
		refs := appendN(t, l, 3)
		prev := ""
		for i, ref := range refs {
			if ref.Sequence != uint64(i+1) || ref.Name != Name(ref.Sequence) || ref.Location != s.Location(ref.Name) {
				t.Fatalf("ref %d: %+v", i, ref)
			}
			data := mustGet(t, s, ref.Name)
			if Hash(data) != ref.SHA256 {
				t.Fatalf("ref %d: sha256 %s, object %s", i, ref.SHA256, Hash(data))
			}
			stored, r, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := stored.Check(keysOf(signer)); err != nil {
				t.Fatalf("receipt %d: %v", i+1, err)
			}
			if r.APIVersion != APIVersion || r.Sequence != ref.Sequence || r.Previous != prev || !r.RecordedAt.Equal(clock.Now()) {
				t.Fatalf("receipt %d: %+v", i+1, r)
			}
			prev = ref.SHA256
		}
		var h head
		if hint, err := readHead(context.Background(), s); err != nil || hint == nil {
			t.Fatalf("HEAD: %v %v", hint, err)
		} else {
			h = *hint
		}
		if h.Sequence != 3 || h.SHA256 != refs[2].SHA256 {
			t.Fatalf("HEAD %+v", h)
		}
	})
}

// A log opened again finds its head: from HEAD, past a stale HEAD (a crash
// between a receipt and its HEAD), and without HEAD at all.
func TestOpenFindsTheHead(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		signer, clock := newSigner(t), newClock()
		refs := appendN(t, openLog(t, s, signer, clock), 4)
		check := func(what string) {
			t.Helper()
			l := openLog(t, s, signer, clock)
			if l.Head() != refs[3] {
				t.Fatalf("%s: head %+v, want %+v", what, l.Head(), refs[3])
			}
		}
		check("with HEAD")
		if err := s.Put(ctx, HeadName, []byte(`{"sequence":2,"sha256":"x"}`)); err != nil {
			t.Fatal(err)
		}
		check("with a stale HEAD")
		if err := s.Put(ctx, HeadName, []byte(`{"sequence":9,"sha256":"x"}`)); err != nil {
			t.Fatal(err)
		}
		check("with a HEAD past the end")
		if err := s.Delete(ctx, HeadName); err != nil {
			t.Fatal(err)
		}
		check("without HEAD")
		ref, err := openLog(t, s, signer, clock).Append(ctx, requestReceipt(5))
		if err != nil || ref.Sequence != 5 {
			t.Fatalf("append after reopen: %+v %v", ref, err)
		}
	})
}

// Two logs on one store (two replicas during a handover) appending at
// once: every receipt is written once, and the log verifies.
func TestTwoWritersKeepTheChain(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer, clock := newSigner(t), newClock()
		logs := []*Log{openLog(t, s, signer, clock), openLog(t, s, signer, clock)}
		var wg sync.WaitGroup
		for w, l := range logs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					if _, err := l.Append(context.Background(), requestReceipt(100*w+i)); err != nil {
						t.Errorf("writer %d: %v", w, err)
					}
				}
			}()
		}
		wg.Wait()
		rep, err := Verify(context.Background(), s, keysOf(signer))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Receipts != 10 || rep.Last != 10 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// lossyStore writes but reports a failure once: the answer to a write
// that did happen was lost.
type lossyStore struct {
	Store
	lose bool
}

func (s *lossyStore) Create(ctx context.Context, name string, data []byte) error {
	err := s.Store.Create(ctx, name, data)
	if err == nil && s.lose {
		s.lose = false
		return errors.New("connection reset")
	}
	return err
}

// An Append retried after its write reached the store but its answer was
// lost adopts that write instead of writing the receipt twice.
func TestAppendRetryAdoptsItsLostWrite(t *testing.T) {
	s := &lossyStore{Store: dirStore(t)}
	signer, clock := newSigner(t), newClock()
	l := openLog(t, s, signer, clock)
	appendN(t, l, 1)
	r := requestReceipt(2)
	s.lose = true
	if _, err := l.Append(context.Background(), r); err == nil {
		t.Fatal("the lost answer was not reported")
	}
	clock.Add(time.Minute) // the retry comes later
	ref, err := l.Append(context.Background(), r)
	if err != nil || ref.Sequence != 2 {
		t.Fatalf("retry: %+v %v", ref, err)
	}
	names, _ := s.List(context.Background(), "")
	if len(receiptNames(names)) != 2 {
		t.Fatalf("receipts %v, want 2", names)
	}
	// Another receipt in that place is not adopted.
	s.lose = true
	_, _ = l.Append(context.Background(), requestReceipt(3))
	ref, err = l.Append(context.Background(), requestReceipt(4))
	if err != nil || ref.Sequence != 4 {
		t.Fatalf("a different receipt after a lost answer: %+v %v", ref, err)
	}
}

func TestAppendRefusesAReceiptWithoutItsBody(t *testing.T) {
	l := openLog(t, dirStore(t), newSigner(t), newClock())
	for _, r := range []*Receipt{
		{Kind: KindPrivacyRequest},
		{Kind: KindRetentionRun, Request: requestReceipt(1).Request},
		{Request: requestReceipt(1).Request},
		{Kind: KindSweep, Sweep: &Sweep{}, Request: requestReceipt(1).Request},
	} {
		if _, err := l.Append(context.Background(), r); err == nil {
			t.Errorf("appended %+v", r)
		}
	}
}

// A rotated key is used from the next receipt on.
func TestAppendAsksForTheKeyEachTime(t *testing.T) {
	old, current := newSigner(t), newSigner(t)
	use := old
	l, err := OpenLog(context.Background(), dirStore(t), func(context.Context) (Signer, error) { return use, nil }, newClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1)
	use = current
	ref := appendN(t, l, 1)[0]
	stored, _, err := Decode(mustGet(t, l.store, ref.Name))
	if err != nil || stored.Signature.KeyID != current.KeyID() {
		t.Fatalf("signed by %s, want %s (%v)", stored.Signature.KeyID, current.KeyID(), err)
	}
}
