package receipt

import (
	"context"
	"errors"
	"testing"
	"time"
)

const day = 24 * time.Hour

// The newest receipt stays however old it is: it anchors the chain.
func TestSweepKeepsTheNewest(t *testing.T) {
	s, signer, clock := dirStore(t), newSigner(t), newClock()
	l := openLog(t, s, signer, clock)
	appendN(t, l, 3)
	clock.Add(10 * day)
	removed, err := l.Sweep(context.Background(), clock.Now(), day)
	if err != nil || removed != 2 {
		t.Fatalf("removed %d, %v", removed, err)
	}
	names, _ := s.List(context.Background(), "")
	if got := receiptNames(names); len(got) != 2 || got[0] != Name(3) || got[1] != Name(4) {
		t.Fatalf("left %v", got)
	}
	if _, err := s.Get(context.Background(), HeadName); err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	_, r, _ := Decode(mustGet(t, s, Name(4)))
	if r.Kind != KindSweep || r.Sweep.RemovedThrough != 2 || r.Sweep.Retention != "24h0m0s" || !r.Sweep.OlderThan.Equal(clock.Now().Add(-day)) {
		t.Fatalf("sweep receipt %+v", r.Sweep)
	}
	if rep := verified(t, s, signer); !rep.OK() {
		t.Fatalf("report %+v", rep)
	}
}

// An old receipt after a younger one stays, so that the log is contiguous.
func TestSweepStopsAtTheFirstYoungerReceipt(t *testing.T) {
	s, signer, clock := dirStore(t), newSigner(t), newClock()
	l := openLog(t, s, signer, clock)
	appendN(t, l, 2) // old
	clock.Add(5 * day)
	appendN(t, l, 1) // young
	clock.Add(-5 * day)
	appendN(t, l, 1) // old again (a clock that went back)
	clock.Add(5 * day)
	appendN(t, l, 1)
	removed, err := l.Sweep(context.Background(), clock.Now(), day)
	if err != nil || removed != 2 {
		t.Fatalf("removed %d, %v", removed, err)
	}
	if removed, err := l.Sweep(context.Background(), clock.Now(), 30*day); err != nil || removed != 0 {
		t.Fatalf("a sweep with nothing to remove: %d, %v", removed, err)
	}
	if rep := verified(t, s, signer); !rep.OK() || rep.First != 3 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := l.Sweep(context.Background(), clock.Now(), 0); err == nil {
		t.Fatal("a zero retention was accepted")
	}
}

// failingDeletes fails every Delete after the first n.
type failingDeletes struct {
	Store
	n int
}

func (s *failingDeletes) Delete(ctx context.Context, name string) error {
	if s.n == 0 {
		return errors.New("bucket unavailable")
	}
	s.n--
	return s.Store.Delete(ctx, name)
}

// A sweep cut short leaves a log that verifies; the next one finishes.
func TestSweepResumes(t *testing.T) {
	stores(t, func(t *testing.T, base Store) {
		s := &failingDeletes{Store: base, n: 2}
		signer, clock := newSigner(t), newClock()
		l := openLog(t, s, signer, clock)
		appendN(t, l, 5)
		clock.Add(10 * day)
		appendN(t, l, 1)
		removed, err := l.Sweep(context.Background(), clock.Now(), day)
		if err == nil || removed != 2 {
			t.Fatalf("cut short: removed %d, %v", removed, err)
		}
		if rep := verified(t, s, signer); !rep.OK() || rep.First != 3 {
			t.Fatalf("after the cut: %+v", rep)
		}
		s.n = 100
		removed, err = l.Sweep(context.Background(), clock.Now(), day)
		if err != nil || removed != 3 {
			t.Fatalf("resumed: removed %d, %v", removed, err)
		}
		if rep := verified(t, s, signer); !rep.OK() || rep.First != 6 || rep.Sweeps != 2 {
			t.Fatalf("after the resume: %+v", rep)
		}
	})
}

// A sweep record whose hash is not that of the last receipt removed does
// not cover the receipt after it.
func TestVerifyChecksTheSweepHash(t *testing.T) {
	s, signer, clock := dirStore(t), newSigner(t), newClock()
	l := openLog(t, s, signer, clock)
	appendN(t, l, 3)
	clock.Add(10 * day)
	if _, err := l.Append(context.Background(), &Receipt{Kind: KindSweep, Sweep: &Sweep{RemovedThrough: 2, RemovedThroughHash: Hash([]byte("other")), OlderThan: clock.Now(), Retention: "24h0m0s"}}); err != nil {
		t.Fatal(err)
	}
	remove(t, s, 1, 2)
	wantBreaks(t, verified(t, s, signer), map[uint64]string{3: "is not the hash " + Name(4) + " recorded"})
}
