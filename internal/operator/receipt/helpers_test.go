package receipt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"
)

// newSigner is a fresh signing key.
func newSigner(t testing.TB) Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{Key: key}
}

// keysOf is the verifier's key set for signers.
func keysOf(signers ...Signer) map[string]ed25519.PublicKey {
	keys := map[string]ed25519.PublicKey{}
	for _, s := range signers {
		keys[s.KeyID()] = s.Key.Public().(ed25519.PublicKey)
	}
	return keys
}

// fixed is a signer func that always returns s.
func fixed(s Signer) func(context.Context) (Signer, error) {
	return func(context.Context) (Signer, error) { return s, nil }
}

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// requestReceipt is a finished Delete request's receipt, numbered i.
func requestReceipt(i int) *Receipt {
	created := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	records := int64(3)
	first := created.Add(time.Minute)
	return &Receipt{Kind: KindPrivacyRequest, Request: &Request{
		Name: fmt.Sprintf("erase-%d", i), UID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Type: "Delete", Regulation: "GDPR",
		CreatedAt: created, DueAt: created.Add(30 * 24 * time.Hour), FinishedAt: created.Add(time.Hour), Outcome: OutcomeCompleted,
		Subject: Subject{FingerprintKeyID: "0123456789abcdef", Fingerprints: []IdentityFingerprint{{Type: "email", Value: "ab12"}}},
		Sources: []Source{{Namespace: "shop", Name: "billing", JobID: "job-1", Outcome: OutcomeCompleted, Records: &records, Attempts: 1, FirstAttemptAt: &first, LastAttemptAt: &first}},
	}}
}

// appendN appends n request receipts to l.
func appendN(t testing.TB, l *Log, n int) []Ref {
	t.Helper()
	var refs []Ref
	for i := range n {
		ref, err := l.Append(context.Background(), requestReceipt(i+1))
		if err != nil {
			t.Fatalf("append %d: %v", i+1, err)
		}
		refs = append(refs, ref)
	}
	return refs
}

// openLog opens the log of store with signer s and clock c.
func openLog(t testing.TB, store Store, s Signer, c *testClock) *Log {
	t.Helper()
	l, err := OpenLog(context.Background(), store, fixed(s), c.Now)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	return l
}

// dirStore is a DirStore in a fresh directory.
func dirStore(t testing.TB) *DirStore {
	t.Helper()
	s, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustGet reads an object that must exist.
func mustGet(t testing.TB, s Store, name string) []byte {
	t.Helper()
	data, err := s.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return data
}
