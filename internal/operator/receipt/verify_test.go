package receipt

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// verified is Verify's report, failing the test on a store error.
func verified(t *testing.T, s Store, keys ...Signer) Report {
	t.Helper()
	rep, err := Verify(context.Background(), s, keysOf(keys...))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantBreaks checks the breaks' positions and that each problem says what
// it should.
func wantBreaks(t *testing.T, rep Report, want map[uint64]string) {
	t.Helper()
	if len(rep.Breaks) != len(want) {
		t.Fatalf("breaks %v, want at %v", rep.Breaks, want)
	}
	for _, b := range rep.Breaks {
		says, ok := want[b.Sequence]
		if !ok || !strings.Contains(b.Problem, says) {
			t.Errorf("break %s; want one at each of %v", b, want)
		}
	}
}

// remove deletes receipts from a store.
func remove(t *testing.T, s Store, seqs ...uint64) {
	t.Helper()
	for _, n := range seqs {
		if err := s.Delete(context.Background(), Name(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// replace overwrites an object of a store in place.
func replace(t *testing.T, s Store, name string, data []byte) {
	t.Helper()
	ctx := context.Background()
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, name, data); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCleanLog(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer := newSigner(t)
		refs := appendN(t, openLog(t, s, signer, newClock()), 5)
		rep := verified(t, s, signer)
		if !rep.OK() || rep.Receipts != 5 || rep.First != 1 || rep.Last != 5 || rep.LastSHA256 != refs[4].SHA256 {
			t.Fatalf("report %+v", rep)
		}
		if rep := verified(t, dirStore(t), signer); !rep.OK() || rep.Receipts != 0 {
			t.Fatalf("empty log: %+v", rep)
		}
	})
}

func TestVerifyFindsAnEditedReceipt(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer := newSigner(t)
		appendN(t, openLog(t, s, signer, newClock()), 5)
		data := mustGet(t, s, Name(3))
		edited := bytes.Replace(data, []byte(`"outcome":"Completed"`), []byte(`"outcome":"Cancelled"`), 1)
		if bytes.Equal(edited, data) {
			t.Fatal("the edit changed nothing")
		}
		replace(t, s, Name(3), edited)
		wantBreaks(t, verified(t, s, signer), map[uint64]string{3: "signature does not match"})
	})
}

// Re-formatting a receipt (same fields, other bytes) is an edit too.
func TestVerifyFindsAReformattedReceipt(t *testing.T) {
	s, signer := dirStore(t), newSigner(t)
	appendN(t, openLog(t, s, signer, newClock()), 3)
	data := mustGet(t, s, Name(2))
	replace(t, s, Name(2), bytes.Replace(data, []byte(`"receipt":{"apiVersion"`), []byte(`"receipt":{ "apiVersion"`), 1))
	wantBreaks(t, verified(t, s, signer), map[uint64]string{2: "signature does not match"})
}

func TestVerifyFindsARemovedReceipt(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer := newSigner(t)
		appendN(t, openLog(t, s, signer, newClock()), 5)
		remove(t, s, 3)
		wantBreaks(t, verified(t, s, signer), map[uint64]string{4: "receipt 3 is missing"})
	})
}

func TestVerifyFindsReorderedReceipts(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer := newSigner(t)
		appendN(t, openLog(t, s, signer, newClock()), 5)
		two, three := mustGet(t, s, Name(2)), mustGet(t, s, Name(3))
		replace(t, s, Name(2), three)
		replace(t, s, Name(3), two)
		wantBreaks(t, verified(t, s, signer), map[uint64]string{2: "says it is sequence 3", 3: "says it is sequence 2"})
	})
}

// A receipt put in place of another, validly signed by a key the verifier
// does not hold.
func TestVerifyFindsAForgedReceipt(t *testing.T) {
	s, signer, forger := dirStore(t), newSigner(t), newSigner(t)
	clock := newClock()
	refs := appendN(t, openLog(t, s, signer, clock), 4)
	r := requestReceipt(3)
	r.APIVersion, r.Sequence, r.Previous, r.RecordedAt = APIVersion, 3, refs[1].SHA256, clock.Now()
	forged, err := Seal(r, forger)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, s, Name(3), forged)
	wantBreaks(t, verified(t, s, signer), map[uint64]string{3: "not among the public keys"})
}

// A receipt re-signed by a known key after an edit (an insider with the
// key) still breaks the chain at the next receipt.
func TestVerifyFindsAReSignedEditByTheChain(t *testing.T) {
	s, signer := dirStore(t), newSigner(t)
	clock := newClock()
	refs := appendN(t, openLog(t, s, signer, clock), 4)
	r := requestReceipt(3)
	r.Request.Outcome = OutcomeFailed
	r.APIVersion, r.Sequence, r.Previous, r.RecordedAt = APIVersion, 3, refs[1].SHA256, clock.Now()
	resigned, err := Seal(r, signer)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, s, Name(3), resigned)
	wantBreaks(t, verified(t, s, signer), map[uint64]string{4: "previous is not the hash of " + Name(3)})
}

// Receipts signed before a key rotation verify with the old public key,
// and are reported once it is left out.
func TestVerifyAcrossKeyRotation(t *testing.T) {
	s, old, current := dirStore(t), newSigner(t), newSigner(t)
	clock := newClock()
	appendN(t, openLog(t, s, old, clock), 3)
	appendN(t, openLog(t, s, current, clock), 3)
	if rep := verified(t, s, old, current); !rep.OK() || rep.Receipts != 6 {
		t.Fatalf("with both keys: %+v", rep)
	}
	wantBreaks(t, verified(t, s, current), map[uint64]string{1: "not among", 2: "not among", 3: "not among"})
}

// Receipts cut off the end are seen against HEAD.
func TestVerifyFindsATruncatedEnd(t *testing.T) {
	s, signer := dirStore(t), newSigner(t)
	appendN(t, openLog(t, s, signer, newClock()), 5)
	remove(t, s, 5, 4)
	wantBreaks(t, verified(t, s, signer), map[uint64]string{5: "the log ends at 3"})
}

func TestVerifyFindsMissingFirstReceipts(t *testing.T) {
	s, signer := dirStore(t), newSigner(t)
	appendN(t, openLog(t, s, signer, newClock()), 5)
	remove(t, s, 1, 2)
	wantBreaks(t, verified(t, s, signer), map[uint64]string{3: "receipts 1 to 2 are missing and no Sweep receipt"})
}

func TestSweptLogVerifies(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		signer, clock := newSigner(t), newClock()
		l := openLog(t, s, signer, clock)
		appendN(t, l, 4)
		clock.Add(48 * time.Hour)
		appendN(t, l, 2)
		removed, err := l.Sweep(context.Background(), clock.Now(), 24*time.Hour)
		if err != nil || removed != 4 {
			t.Fatalf("sweep: removed %d, %v", removed, err)
		}
		rep := verified(t, s, signer)
		if !rep.OK() || rep.First != 5 || rep.Last != 7 || rep.Sweeps != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// midway is a store that runs meanwhile once, while Verify reads it: after
// its first listing when before is "", else before the Get of before.
type midway struct {
	Store
	before    string
	meanwhile func()
	once      sync.Once
}

func (s *midway) List(ctx context.Context, after string) ([]string, error) {
	names, err := s.Store.List(ctx, after)
	if s.before == "" {
		s.once.Do(s.meanwhile)
	}
	return names, err
}

func (s *midway) Get(ctx context.Context, name string) ([]byte, error) {
	if name == s.before {
		s.once.Do(s.meanwhile)
	}
	return s.Store.Get(ctx, name)
}

// A sweep while Verify reads is no break: the receipts it removed are gone
// when read, and its Sweep receipt, after them, accounts for them. A
// receipt removed meanwhile by anyone else is still a break, at its place.
func TestVerifyDuringASweep(t *testing.T) {
	for _, tc := range []struct {
		name, before string
		sweep        bool
		want         map[uint64]string
	}{
		{name: "between the listing and the reads", sweep: true},
		{name: "after the first read", before: Name(2), sweep: true},
		{name: "a removal that is no sweep", before: Name(2), want: map[uint64]string{4: "receipt 3 is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores(t, func(t *testing.T, s Store) {
				signer, clock := newSigner(t), newClock()
				l := openLog(t, s, signer, clock)
				appendN(t, l, 4)
				clock.Add(2 * day)
				appendN(t, l, 2)
				meanwhile := func() {
					if !tc.sweep {
						remove(t, s, 3)
						return
					}
					if removed, err := l.Sweep(context.Background(), clock.Now(), day); err != nil || removed != 4 {
						t.Errorf("sweep: removed %d, %v", removed, err)
					}
				}
				rep := verified(t, &midway{Store: s, before: tc.before, meanwhile: meanwhile}, signer)
				wantBreaks(t, rep, tc.want)
				if tc.sweep && (rep.First != 5 || rep.Last != 7 || rep.Sweeps != 1 || rep.Receipts != 3) {
					t.Fatalf("report %+v, want receipts 5 to 7, the last the Sweep receipt", rep)
				}
			})
		})
	}
}
