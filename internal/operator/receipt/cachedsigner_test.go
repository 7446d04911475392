package receipt

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCachedSignerReadsTheKeyOncePerTTL(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	first, second := newSigner(t), newSigner(t)
	calls, fail := 0, false
	current := first
	next := func(context.Context) (Signer, error) {
		calls++
		if fail {
			return Signer{}, errors.New("secret unreadable")
		}
		return current, nil
	}
	s := CachedSigner(next, 30*time.Second, func() time.Time { return now })
	for range 3 {
		if got, err := s(context.Background()); err != nil || got.KeyID() != first.KeyID() {
			t.Fatalf("%v %v", got.KeyID(), err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d reads for three receipts within the TTL, want 1", calls)
	}
	current = second // an admin rotated the key
	now = now.Add(31 * time.Second)
	if got, _ := s(context.Background()); got.KeyID() != second.KeyID() || calls != 2 {
		t.Fatalf("after the TTL: key %s after %d reads, want the rotated key after 2", got.KeyID(), calls)
	}
	fail = true
	now = now.Add(31 * time.Second)
	if _, err := s(context.Background()); err == nil {
		t.Fatal("an unreadable key is an error, not the cached key")
	}
	fail = false
	if got, err := s(context.Background()); err != nil || got.KeyID() != second.KeyID() || calls != 4 {
		t.Fatalf("an error is not cached: %v after %d reads", err, calls)
	}
}
