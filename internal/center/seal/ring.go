// Package seal carries the privacy center's state inside its links instead
// of a database: an unverified submission is sealed (XChaCha20-Poly1305)
// into a token that travels in the verification link and comes back when
// the person clicks it. Nothing is stored server-side.
//
// Keys come from a directory of files, a mounted Secret: each file is one
// key, named by its key id, holding 32 random bytes in base64
// (`head -c 32 /dev/urandom | base64`). The primary key seals; every key in
// the directory opens, so keys rotate without breaking links in flight:
//
//  1. add a new key file; once every replica has it, make it primary;
//  2. remove the old key after the longest token lifetime has passed.
//
// The primary is the key named by the file `primary` (its content is a key
// id), or, without that file, the key with the lexically greatest id: name
// keys by date (`2026-12-01`) and the newest seals. Files whose names start
// with a dot are ignored (a mounted Secret's `..data` links among them).
//
// Every key is expanded with HKDF-SHA256 into three independent keys, one
// for sealing, one for the IDs and one for the codes, so that no key
// material serves two purposes.
package seal

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// KeySize is the size of a key, decoded.
	KeySize = 32
	// PrimaryFile names the file that, when present, holds the primary key id.
	PrimaryFile = "primary"
	// maxKeyID bounds a key id, which every token carries in the clear.
	maxKeyID = 64
	// maxKeyFile bounds what is read of one key file.
	maxKeyFile = 1024
)

// The HKDF labels of the three keys derived from each key.
const (
	infoAEAD = "privacyoperator.io/center/seal/v1 aead"
	infoID   = "privacyoperator.io/center/seal/v1 id"
	infoCode = "privacyoperator.io/center/seal/v1 code"
)

// Ring holds the keys: the primary seals, any of them opens. It is
// immutable and safe for concurrent use; load a new one to see a rotation.
type Ring struct {
	primary string
	keys    map[string]*derived
	now     func() time.Time
}

// derived holds the keys expanded from one key of the ring.
type derived struct {
	aead cipher.AEAD
	id   []byte
	code []byte
}

// Option changes how a Ring is made.
type Option func(*Ring)

// WithClock makes the ring take the issue time of the tokens it seals from
// now instead of time.Now (for tests).
func WithClock(now func() time.Time) Option {
	return func(r *Ring) { r.now = now }
}

// Load reads the key ring from dir (see the package documentation for its
// layout). An error names the file at fault, never a key.
func Load(dir string, opts ...Option) (*Ring, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("seal: read key directory: %w", err)
	}
	keys := map[string][]byte{}
	primary := ""
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		// Stat follows the symbolic links a mounted Secret is made of.
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("seal: key file %s: %w", path, err)
		}
		if fi.IsDir() {
			continue
		}
		if fi.Size() > maxKeyFile {
			return nil, fmt.Errorf("seal: key file %s: larger than %d bytes", path, maxKeyFile)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("seal: key file %s: %w", path, err)
		}
		text := string(b)
		if name == PrimaryFile {
			primary = strings.TrimSpace(text)
			continue
		}
		if err := checkKeyID(name); err != nil {
			return nil, fmt.Errorf("seal: key file %s: %w", path, err)
		}
		key, err := decodeKey(text)
		if err == nil {
			err = checkKey(key)
		}
		if err != nil {
			return nil, fmt.Errorf("seal: key file %s: %w", path, err)
		}
		keys[name] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("seal: no key files in %s", dir)
	}
	if primary != "" {
		if _, ok := keys[primary]; !ok {
			return nil, fmt.Errorf("seal: %s names key %q, which has no file in %s", filepath.Join(dir, PrimaryFile), primary, dir)
		}
	}
	return New(keys, primary, opts...)
}

// New makes a ring of keys (key id to 32 key bytes). primary names the key
// that seals; empty means the lexically greatest id.
func New(keys map[string][]byte, primary string, opts ...Option) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	r := &Ring{keys: make(map[string]*derived, len(keys)), now: time.Now}
	for id, key := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		d, err := derive(key)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		r.keys[id] = d
	}
	if primary == "" {
		ids := make([]string, 0, len(keys))
		for id := range keys {
			ids = append(ids, id)
		}
		primary = slices.Max(ids)
	}
	if _, ok := r.keys[primary]; !ok {
		return nil, fmt.Errorf("seal: primary key %q is not in the ring", primary)
	}
	r.primary = primary
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Primary is the id of the key that seals.
func (r *Ring) Primary() string { return r.primary }

// KeyIDs are the ids of every key in the ring, sorted.
func (r *Ring) KeyIDs() []string {
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// decodeKey takes the base64 of a key, padded or not, standard or URL
// alphabet. Its errors never quote the text.
func decodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.Strict().DecodeString(text); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("not base64 (want %d random bytes in base64)", KeySize)
}

// checkKey refuses a key of the wrong size, or one whose bytes are all the
// same (what a broken generator or an unfilled buffer gives).
func checkKey(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("decodes to %d bytes, want %d", len(key), KeySize)
	}
	for _, b := range key[1:] {
		if b != key[0] {
			return nil
		}
	}
	return errors.New("all bytes are the same: not a random key")
}

// checkKeyID allows what a Secret's key may be (letters, digits, '-', '_',
// '.'), not starting with a dot, and short, since every token carries it.
func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyID || strings.HasPrefix(id, ".") || id == PrimaryFile {
		return fmt.Errorf("key id %q: want 1 to %d characters, not starting with a dot, not %q", id, maxKeyID, PrimaryFile)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("key id %q: only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// derive expands one key into the ring's three keys.
func derive(key []byte) (*derived, error) {
	expand := func(info string) ([]byte, error) { return hkdf.Key(sha256.New, key, nil, info, KeySize) }
	aeadKey, err := expand(infoAEAD)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return nil, err
	}
	id, err := expand(infoID)
	if err != nil {
		return nil, err
	}
	code, err := expand(infoCode)
	if err != nil {
		return nil, err
	}
	return &derived{aead: aead, id: id, code: code}, nil
}
