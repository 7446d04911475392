package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Algorithm is the only signature algorithm receipts use.
const Algorithm = "Ed25519"

// Stored is a receipt as it is kept: the receipt's JSON exactly as it was
// signed, and the signature over those bytes. Keeping the bytes (not a
// re-encoding) means a verifier needs no canonical form: any change to
// them, even whitespace, fails the signature, and that is tampering.
type Stored struct {
	Receipt   json.RawMessage `json:"receipt"`
	Signature Signature       `json:"signature"`
}

// Signature is an Ed25519 signature and the id of the key that made it.
type Signature struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"keyID"`
	// Value is the signature, base64 (standard, padded).
	Value string `json:"value"`
}

// Signer signs receipts with an Ed25519 private key.
type Signer struct {
	Key ed25519.PrivateKey
	// Trusted are the public keys the log takes as the operator's own when
	// it adopts a receipt it finds in the store (the published keys,
	// rotated ones included); the signer's own key is always trusted. A
	// receipt signed by none of them was not written by the operator.
	Trusted map[string]ed25519.PublicKey
}

// trusted is Trusted with the signer's own key.
func (s Signer) trusted() map[string]ed25519.PublicKey {
	keys := make(map[string]ed25519.PublicKey, len(s.Trusted)+1)
	for id, k := range s.Trusted {
		keys[id] = k
	}
	if s.Key != nil {
		keys[s.KeyID()] = s.Key.Public().(ed25519.PublicKey)
	}
	return keys
}

// KeyID is the id of the signer's public key (see KeyID).
func (s Signer) KeyID() string {
	return KeyID(s.Key.Public().(ed25519.PublicKey))
}

// KeyID names a public key: the first 16 hex characters of the SHA-256 of
// its 32 raw bytes. Receipts carry it so that a verifier holding every
// key the log was ever signed with picks the right one.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Hash is the hex SHA-256 of a stored object's bytes: what the next
// receipt names as its previous, and what sha256sum of a downloaded
// receipt prints.
func Hash(stored []byte) string {
	sum := sha256.Sum256(stored)
	return hex.EncodeToString(sum[:])
}

// Seal encodes r, signs the encoding and returns the stored object's bytes
// (a JSON object and a newline).
func Seal(r *Receipt, s Signer) ([]byte, error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("the receipt signing key is not an Ed25519 private key")
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	sig := Signature{Algorithm: Algorithm, KeyID: s.KeyID(), Value: base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, doc))}
	out, err := json.Marshal(Stored{Receipt: doc, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("encode stored receipt: %w", err)
	}
	// encoding/json re-compacts a RawMessage; json.Marshal's output is
	// compact already, so the bytes stay those signed. Checked, because a
	// difference would make every receipt fail verification.
	var back Stored
	if err := json.Unmarshal(out, &back); err != nil || !bytes.Equal(back.Receipt, doc) {
		return nil, errors.New("encode stored receipt: the receipt's bytes changed on the way")
	}
	return append(out, '\n'), nil
}

// Decode reads a stored object: its envelope and the receipt in it. It
// checks the format, not the signature (see Stored.Check).
func Decode(data []byte) (Stored, *Receipt, error) {
	var s Stored
	if err := json.Unmarshal(data, &s); err != nil {
		return Stored{}, nil, fmt.Errorf("not a stored receipt: %w", err)
	}
	if len(s.Receipt) == 0 {
		return Stored{}, nil, errors.New("not a stored receipt: no receipt member")
	}
	var r Receipt
	if err := json.Unmarshal(s.Receipt, &r); err != nil {
		return Stored{}, nil, fmt.Errorf("not a receipt: %w", err)
	}
	if r.APIVersion != APIVersion {
		return Stored{}, nil, fmt.Errorf("receipt apiVersion %q, want %q", r.APIVersion, APIVersion)
	}
	if err := r.check(); err != nil {
		return Stored{}, nil, err
	}
	return s, &r, nil
}

// ErrUnknownKey: the receipt is signed by a key the verifier was not given.
var ErrUnknownKey = errors.New("signed by a key that is not among the public keys")

// ErrBadSignature: the signature does not cover the receipt's bytes; the
// receipt, or its signature, was changed after it was written.
var ErrBadSignature = errors.New("the signature does not match the receipt: it was changed after it was signed")

// Check verifies the signature with the public key its keyID names.
func (s Stored) Check(keys map[string]ed25519.PublicKey) error {
	if s.Signature.Algorithm != Algorithm {
		return fmt.Errorf("signature algorithm %q, want %s", s.Signature.Algorithm, Algorithm)
	}
	pub, ok := keys[s.Signature.KeyID]
	if !ok {
		return fmt.Errorf("%w (keyID %q)", ErrUnknownKey, s.Signature.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature.Value)
	if err != nil || !ed25519.Verify(pub, s.Receipt, sig) {
		return ErrBadSignature
	}
	return nil
}
