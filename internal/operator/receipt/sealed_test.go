package receipt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSealedFingerprints(t *testing.T) {
	key, other := []byte("0123456789abcdef0123456789abcdef"), []byte("another key, another operator...")
	fps := Fingerprints(key, map[string]string{"email": "ada@example.com", "userId": "42"})

	a, err := SealFingerprints(key, "uid-a", fps)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SealFingerprints(key, "uid-b", fps)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SealFingerprints(key, "uid-a", fps)
	if a == b || a == again {
		t.Fatal("the same fingerprints sealed twice give the same value: status would link two requests about one person")
	}
	for _, f := range fps {
		if strings.Contains(a, f.Value) {
			t.Fatalf("sealed value holds the fingerprint %s in the clear", f.Value)
		}
	}

	got, err := OpenFingerprints(key, "uid-a", a)
	if err != nil || !slices.Equal(got, fps) {
		t.Fatalf("open: %v %v, want %v", got, err, fps)
	}
	for name, open := range map[string]func() error{
		"another request": func() error { _, err := OpenFingerprints(key, "uid-b", a); return err },
		"another key":     func() error { _, err := OpenFingerprints(other, "uid-a", a); return err },
		"changed":         func() error { _, err := OpenFingerprints(key, "uid-a", flipMiddle(a)); return err },
		"not base64":      func() error { _, err := OpenFingerprints(key, "uid-a", "%%%"); return err },
	} {
		if err := open(); !errors.Is(err, ErrSealBroken) {
			t.Errorf("%s: %v, want ErrSealBroken", name, err)
		}
	}
}

// flipMiddle changes one character in the middle of the sealed value (a
// whole byte's worth: the last characters may only carry padding bits).
func flipMiddle(s string) string {
	i := len(s) / 2
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
