package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

const (
	verify = "verify-submission"
	export = "deliver-export"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// writeKey writes a fresh random key file into dir and returns its bytes.
func writeKey(t *testing.T, dir, id string) []byte {
	t.Helper()
	key := make([]byte, seal.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

func load(t *testing.T, dir string) *seal.Ring {
	t.Helper()
	r, err := seal.Load(dir, seal.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// ringWith loads a ring of fresh keys with these ids from a new directory.
func ringWith(t *testing.T, ids ...string) (string, *seal.Ring) {
	t.Helper()
	dir := t.TempDir()
	for _, id := range ids {
		writeKey(t, dir, id)
	}
	return dir, load(t, dir)
}

func newRing(t *testing.T) *seal.Ring {
	t.Helper()
	_, r := ringWith(t, "2026-12-01")
	return r
}

func mustSeal(t *testing.T, r *seal.Ring, payload []byte, purpose string, ttl time.Duration) string {
	t.Helper()
	tok, err := r.Seal(payload, purpose, ttl)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return tok
}

func TestRoundTrip(t *testing.T) {
	r := newRing(t)
	payload := []byte(`{"type":"Access","email":"ada@example.com"}`)
	tok := mustSeal(t, r, payload, verify, 30*time.Minute)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(tok) {
		t.Fatalf("token is not URL-safe base64 without padding: %q", tok)
	}
	if strings.Contains(tok, "ada") || bytes.Contains(mustDecode(t, tok), []byte("ada@example.com")) {
		t.Fatal("token shows its payload")
	}
	got, err := r.Open(tok, verify, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got.Payload, payload) || got.KeyID != "2026-12-01" ||
		!got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("Open = %+v", got)
	}
	// Sealing the same payload twice gives two different tokens (fresh nonce).
	if mustSeal(t, r, payload, verify, time.Minute) == tok {
		t.Fatal("two seals gave the same token")
	}
}

// tamper changes one character in the middle of tok.
func tamper(tok string) string {
	b := []byte(tok)
	if i := len(b) / 2; b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func mustDecode(t *testing.T, tok string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotation(t *testing.T) {
	dir, old := ringWith(t, "2026-11-01")
	tok := mustSeal(t, old, []byte("x"), verify, time.Hour)

	// A newer key becomes primary by its name; the old one still opens.
	writeKey(t, dir, "2026-12-01")
	both := load(t, dir)
	if both.Primary() != "2026-12-01" {
		t.Fatalf("primary = %q, want the lexically greatest", both.Primary())
	}
	if _, err := both.Open(tok, verify, t0); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	newTok := mustSeal(t, both, []byte("y"), verify, time.Hour)
	if o, err := both.Open(newTok, verify, t0); err != nil || o.KeyID != "2026-12-01" {
		t.Fatalf("new token: %+v, %v", o, err)
	}

	// The primary file overrides the name order.
	if err := os.WriteFile(filepath.Join(dir, seal.PrimaryFile), []byte("2026-11-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p := load(t, dir).Primary(); p != "2026-11-01" {
		t.Fatalf("primary = %q, want the one named by the primary file", p)
	}
	if err := os.Remove(filepath.Join(dir, seal.PrimaryFile)); err != nil {
		t.Fatal(err)
	}

	// Once the old key is removed, its tokens are refused.
	if err := os.Remove(filepath.Join(dir, "2026-11-01")); err != nil {
		t.Fatal(err)
	}
	newest := load(t, dir)
	if _, err := newest.Open(tok, verify, t0); !errors.Is(err, seal.ErrInvalid) {
		t.Fatalf("token of a removed key: %v, want ErrInvalid", err)
	}
	if _, err := newest.Open(newTok, verify, t0); err != nil {
		t.Fatalf("token of the remaining key: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	r := newRing(t)
	tok := mustSeal(t, r, []byte("x"), verify, 30*time.Minute)
	if _, err := r.Open(tok, verify, t0.Add(30*time.Minute-time.Second)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	for _, at := range []time.Time{t0.Add(30 * time.Minute), t0.Add(time.Hour)} {
		if _, err := r.Open(tok, verify, at); !errors.Is(err, seal.ErrExpired) {
			t.Fatalf("at %s: %v, want ErrExpired", at, err)
		}
	}
	// A ttl that is not whole seconds is rounded up, never down.
	odd := mustSeal(t, r, []byte("x"), verify, 1500*time.Millisecond)
	if o, err := r.Open(odd, verify, t0); err != nil || !o.ExpiresAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("ttl 1.5s: %+v, %v", o, err)
	}
	if _, err := r.Seal([]byte("x"), verify, 0); err == nil {
		t.Fatal("Seal accepted a ttl of 0")
	}
}

func TestEveryBitFlipRefused(t *testing.T) {
	r := newRing(t)
	tok := mustSeal(t, r, []byte(`{"type":"Delete"}`), verify, time.Hour)
	raw := mustDecode(t, tok)
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			if _, err := r.Open(base64.RawURLEncoding.EncodeToString(b), verify, t0); !errors.Is(err, seal.ErrInvalid) {
				t.Fatalf("byte %d bit %d flipped: %v, want ErrInvalid", i, bit, err)
			}
		}
	}
	// The same for the token as text, including the last character, whose
	// low bits are padding that a lenient decoder would ignore.
	for i := range len(tok) {
		for bit := range 7 {
			b := []byte(tok)
			b[i] ^= 1 << bit
			if _, err := r.Open(string(b), verify, t0); err == nil {
				t.Fatalf("character %d bit %d flipped: opened", i, bit)
			}
		}
	}
	for _, cut := range []int{0, 1, 10, len(tok) - 1} {
		if _, err := r.Open(tok[:cut], verify, t0); !errors.Is(err, seal.ErrInvalid) {
			t.Fatalf("cut to %d characters: %v, want ErrInvalid", cut, err)
		}
	}
	// A token of another ring (another key under the same id) is refused.
	if _, err := newRing(t).Open(tok, verify, t0); !errors.Is(err, seal.ErrInvalid) {
		t.Fatalf("other ring: %v, want ErrInvalid", err)
	}
}

func TestWrongPurpose(t *testing.T) {
	r := newRing(t)
	tok := mustSeal(t, r, []byte("x"), verify, time.Hour)
	if _, err := r.Open(tok, export, t0); !errors.Is(err, seal.ErrWrongPurpose) {
		t.Fatalf("open for another purpose: %v, want ErrWrongPurpose", err)
	}
	// Purpose is checked before expiry, so an expired token of another use
	// still says so.
	if _, err := r.Open(tok, export, t0.Add(2*time.Hour)); !errors.Is(err, seal.ErrWrongPurpose) {
		t.Fatalf("expired and another purpose: %v, want ErrWrongPurpose", err)
	}
	if _, err := r.Seal([]byte("x"), "", time.Hour); err == nil {
		t.Fatal("Seal accepted an empty purpose")
	}
}

func TestOversize(t *testing.T) {
	r := newRing(t)
	if _, err := r.Seal(make([]byte, seal.MaxTokenLen), verify, time.Hour); !errors.Is(err, seal.ErrTooLarge) {
		t.Fatalf("Seal of a large payload: %v, want ErrTooLarge", err)
	}
	// The largest payload that fits makes a token within the bound.
	fits := 0
	for n := 0; n < seal.MaxTokenLen; n++ {
		if _, err := r.Seal(make([]byte, n), verify, time.Hour); err != nil {
			break
		}
		fits = n
	}
	tok := mustSeal(t, r, make([]byte, fits), verify, time.Hour)
	if len(tok) > seal.MaxTokenLen || fits < 1000 {
		t.Fatalf("largest payload %d bytes, token %d characters", fits, len(tok))
	}
	long := strings.Repeat("A", seal.MaxTokenLen+1)
	_, err := r.Open(long, verify, t0)
	if !errors.Is(err, seal.ErrTooLarge) || !errors.Is(err, seal.ErrInvalid) {
		t.Fatalf("Open of an oversize token: %v, want ErrTooLarge and ErrInvalid", err)
	}
}

func TestErrorsLeakNothing(t *testing.T) {
	r := newRing(t)
	secret := "ada@example.com"
	tok := mustSeal(t, r, []byte(secret), verify, time.Minute)
	for _, err := range []error{
		open(r, tok, export, t0),
		open(r, tok, verify, t0.Add(time.Hour)),
		open(r, tamper(tok), verify, t0),
	} {
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), tok[:20]) {
			t.Fatalf("error %v", err)
		}
	}
}

func open(r *seal.Ring, tok, purpose string, now time.Time) error {
	_, err := r.Open(tok, purpose, now)
	return err
}

func TestIDs(t *testing.T) {
	dir, r := ringWith(t, "a")
	tok := mustSeal(t, r, []byte("x"), verify, time.Hour)
	other := mustSeal(t, r, []byte("x"), verify, time.Hour)
	id, err := r.ID(tok)
	if err != nil {
		t.Fatal(err)
	}
	// Stable: the same token, another ring loaded from the same keys (another
	// replica, or the same one after a rotation added a key).
	writeKey(t, dir, "b")
	if again, err := load(t, dir).ID(tok); err != nil || again != id {
		t.Fatalf("ID after reload = %q, %v; want %q", again, err, id)
	}
	if id2, _ := r.ID(other); id2 == id {
		t.Fatalf("two tokens, one ID %q", id)
	}
	// Fit for the end of a Kubernetes object name (DNS-1123 label characters).
	if len(id) != seal.IDLen || !regexp.MustCompile(`^[a-z0-9]+$`).MatchString(id) {
		t.Fatalf("ID %q", id)
	}
	if strings.Contains(tok, id) {
		t.Fatal("ID is part of the token")
	}
	if _, err := r.ID(tamper(tok)); !errors.Is(err, seal.ErrInvalid) {
		t.Fatalf("ID of a tampered token: %v", err)
	}
}

func TestCodes(t *testing.T) {
	r := newRing(t)
	tok := mustSeal(t, r, []byte("x"), verify, time.Hour)
	code, err := r.Code(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("code %q", code)
	}
	if c2, _ := r.Code(tok); c2 != code {
		t.Fatal("code is not deterministic")
	}
	for _, typed := range []string{code, code[:3] + " " + code[3:], code[:3] + "-" + code[3:]} {
		if !r.CheckCode(tok, typed) {
			t.Fatalf("CheckCode refused %q", typed)
		}
	}
	wrong := []string{"", code[:5], code + "0", "abcdef", strings.Repeat("0", 6)}
	for i := range 6 {
		b := []byte(code)
		b[i] = '0' + (b[i]-'0'+1)%10
		wrong = append(wrong, string(b))
	}
	for _, typed := range wrong {
		if typed != code && r.CheckCode(tok, typed) {
			t.Fatalf("CheckCode accepted %q for %q", typed, code)
		}
	}
	// Another token's code, and any code for a tampered token, are refused.
	other := mustSeal(t, r, []byte("x"), verify, time.Hour)
	if oc, _ := r.Code(other); oc != code && r.CheckCode(tok, oc) {
		t.Fatal("CheckCode accepted another token's code")
	}
	if r.CheckCode(tamper(tok), code) {
		t.Fatal("CheckCode accepted a tampered token")
	}
}
