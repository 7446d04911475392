package receipt

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// A new leader takes a receipt it finds in the log for a request's own
// only when the operator signed it and it records the same event: a
// receipt planted by someone who can write to the store but holds no
// signing key (or one of the operator's recording something else) is
// passed over, and the genuine receipt is written after it.
func TestNotaryAdoptsOnlyReceiptsTheOperatorSigned(t *testing.T) {
	s, signer, forger, clock := dirStore(t), newSigner(t), newSigner(t), newClock()

	// Seq 1: request 1's receipt, signed with a key the operator never had.
	forged := openLog(t, s, forger, clock)
	if _, err := forged.Append(context.Background(), requestReceipt(1)); err != nil {
		t.Fatal(err)
	}
	// Seq 2: request 2's receipt, signed by the operator, then changed.
	genuine := openLog(t, s, signer, clock)
	ref2, err := genuine.Append(context.Background(), requestReceipt(2))
	if err != nil {
		t.Fatal(err)
	}
	stored, r2, err := Decode(mustGet(t, s, ref2.Name))
	if err != nil {
		t.Fatal(err)
	}
	r2.Request.Outcome = OutcomeCancelled
	stored.Receipt, _ = json.Marshal(r2)
	tampered, _ := json.Marshal(stored)
	if err := s.Put(context.Background(), ref2.Name, tampered); err != nil {
		t.Fatal(err)
	}
	// Seq 3: request 3, signed by the operator, recording another outcome
	// than the one its owner submits.
	other := requestReceipt(3)
	other.Request.Outcome = OutcomeFailed
	if _, err := genuine.Append(context.Background(), other); err != nil {
		t.Fatal(err)
	}

	n := startNotary(t, s, signer, clock, &wakes{}, NotaryOptions{})
	for i := 1; i <= 3; i++ {
		r := requestReceipt(i)
		n.Submit(OwnerID(r), r)
		ref := written(t, n, OwnerID(r))
		if ref.Sequence <= 3 {
			t.Errorf("request %d: took receipt %d from the log, want its own appended after it", i, ref.Sequence)
		}
		_, got, err := Decode(mustGet(t, s, ref.Name))
		if err != nil || got.Request.Name != r.Request.Name || got.Request.Outcome != OutcomeCompleted {
			t.Errorf("request %d: %s holds %+v (%v)", i, ref.Name, got, err)
		}
	}
	if got := receiptCount(t, s); got != 6 {
		t.Fatalf("%d receipts, want 3 planted and 3 genuine", got)
	}

	// A genuine receipt recording the same event is still adopted.
	next := startNotary(t, s, signer, clock, &wakes{}, NotaryOptions{})
	r := requestReceipt(1)
	next.Submit(OwnerID(r), r)
	if ref := written(t, next, OwnerID(r)); ref.Sequence <= 3 || receiptCount(t, s) != 6 {
		t.Fatalf("request 1 again: %+v, %d receipts; want the genuine receipt adopted", ref, receiptCount(t, s))
	}
}

// While the store refuses writes, every waiting receipt's owner hears why
// (not only the head of the queue's), and a receipt submitted during the
// outage starts with the reason; once a write succeeds the reason clears.
func TestNotaryTellsEveryWaitingOwnerWhy(t *testing.T) {
	s := &outage{Store: dirStore(t)}
	signer, clock, w := newSigner(t), newClock(), &wakes{}
	n := startNotary(t, s, signer, clock, w, NotaryOptions{})
	r0 := requestReceipt(0)
	n.Submit(OwnerID(r0), r0)
	written(t, n, OwnerID(r0)) // the log is open

	s.down.Store(true)
	var ids []string
	for i := 1; i <= 10; i++ {
		r := requestReceipt(i)
		ids = append(ids, OwnerID(r))
		n.Submit(OwnerID(r), r)
	}
	eventually(t, "all ten owners hear why their receipts wait", func() bool {
		for _, id := range ids {
			if _, err, _ := n.Result(id); !errors.Is(err, errDown) || w.count(id) == 0 {
				return false
			}
		}
		return true
	})
	late := requestReceipt(11)
	n.Submit(OwnerID(late), late)
	if _, err, _ := n.Result(OwnerID(late)); !errors.Is(err, errDown) {
		t.Fatalf("a receipt submitted during the outage: %v, want the outage's error at once", err)
	}

	s.down.Store(false)
	for _, id := range append(ids, OwnerID(late)) {
		written(t, n, id)
		if _, err, _ := n.Result(id); err != nil {
			t.Errorf("%s written, error still %v", id, err)
		}
	}
	if got := receiptCount(t, s); got != 12 {
		t.Fatalf("%d receipts, want 12", got)
	}
}
