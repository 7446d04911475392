package receipt

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("email\x00ada@example.com"))
	want := hex.EncodeToString(mac.Sum(nil))
	for _, spelling := range []string{"ada@example.com", "  Ada@Example.COM\t"} {
		if got := Fingerprint(key, "email", spelling); got != want {
			t.Errorf("Fingerprint(%q) = %s, want %s", spelling, got, want)
		}
	}
	// Only emails are case-folded; the type is part of the hash.
	if Fingerprint(key, "customerId", "AB-1") == Fingerprint(key, "customerId", "ab-1") {
		t.Error("a customer id was case-folded")
	}
	if Fingerprint(key, "phone", "1") == Fingerprint(key, "customerId", "1") {
		t.Error("two types with one value share a fingerprint")
	}
	if Fingerprint(bytes.Repeat([]byte{8}, 32), "email", "ada@example.com") == want {
		t.Error("another key gives the same fingerprint")
	}
	if id := FingerprintKeyID(key); len(id) != 16 || id == FingerprintKeyID(bytes.Repeat([]byte{8}, 32)) {
		t.Errorf("key id %q", id)
	}
	fps := Fingerprints(key, map[string]string{"phone": "+44 20", "email": "ada@example.com", "customerId": "c-1"})
	if len(fps) != 3 || fps[0].Type != "customerId" || fps[1].Type != "email" || fps[2].Type != "phone" || fps[1].Value != want {
		t.Errorf("Fingerprints: %+v", fps)
	}
}

// A receipt holds no identity value: not in its JSON, not in its stored
// object, under any spelling.
func TestReceiptHoldsNoIdentity(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	identities := map[string]string{"email": "Grace.Hopper@Example.org", "customerId": "cust-938271", "phone": "+1 555 0100"}
	r := requestReceipt(1)
	r.Request.Subject = Subject{FingerprintKeyID: FingerprintKeyID(key), Fingerprints: Fingerprints(key, identities)}
	s := dirStore(t)
	ref, err := openLog(t, s, newSigner(t), newClock()).Append(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	stored := strings.ToLower(string(mustGet(t, s, ref.Name)))
	for _, v := range identities {
		for _, part := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ' ' || r == '@' || r == '+' }) {
			if len(part) > 3 && strings.Contains(stored, part) {
				t.Errorf("the stored receipt holds %q of an identity", part)
			}
		}
	}
}
