package receipt

import (
	"bytes"
	"context"
	"testing"
)

// subjectReceipt is request i about identities, fingerprinted with key.
func subjectReceipt(i int, key []byte, identities map[string]string) *Receipt {
	r := requestReceipt(i)
	r.Request.Subject = Subject{FingerprintKeyID: FingerprintKeyID(key), Fingerprints: Fingerprints(key, identities)}
	return r
}

func TestFind(t *testing.T) {
	key, oldKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s := dirStore(t)
	l := openLog(t, s, newSigner(t), newClock())
	ctx := context.Background()
	for _, r := range []*Receipt{
		subjectReceipt(1, oldKey, map[string]string{"email": "ada@example.com"}),
		subjectReceipt(2, key, map[string]string{"email": "ada@example.com", "customerId": "c-1"}),
		subjectReceipt(3, key, map[string]string{"email": "grace@example.com"}),
		subjectReceipt(4, key, map[string]string{"customerId": "c-1"}),
		{Kind: KindSweep, Sweep: &Sweep{RemovedThrough: 1, RemovedThroughHash: Hash(nil)}},
	} {
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	found, err := Find(ctx, s, [][]byte{key}, []Identity{{Type: "email", Value: " Ada@Example.com"}, {Type: "customerId", Value: "c-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range found.Matches {
		got = append(got, m.Receipt.Request.Name)
		if m.Ref.Location != s.Location(m.Ref.Name) || m.Ref.SHA256 != Hash(mustGet(t, s, m.Ref.Name)) {
			t.Errorf("ref %+v", m.Ref)
		}
	}
	if len(got) != 2 || got[0] != "erase-2" || got[1] != "erase-4" {
		t.Fatalf("matches %v, want erase-2 and erase-4", got)
	}
	if found.Requests != 4 || found.OtherKeys[FingerprintKeyID(oldKey)] != 1 {
		t.Fatalf("found %+v", found)
	}
	// With the old key too, the receipt it fingerprinted is found.
	found, err = Find(ctx, s, [][]byte{key, oldKey}, []Identity{{Type: "email", Value: "ada@example.com"}})
	if err != nil || len(found.Matches) != 2 || len(found.OtherKeys) != 0 {
		t.Fatalf("with both keys: %+v %v", found, err)
	}
	// A customer id is not an email: the type is part of the fingerprint.
	found, _ = Find(ctx, s, [][]byte{key}, []Identity{{Type: "email", Value: "c-1"}})
	if len(found.Matches) != 0 {
		t.Fatalf("matches across types: %+v", found.Matches)
	}
}
