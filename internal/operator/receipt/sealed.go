package receipt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// sealInfo separates the sealing key from every other use of the
// fingerprint key (HKDF's info).
const sealInfo = "privacy-operator subject fingerprints sealed v1"

// SealFingerprints encrypts a request's fingerprints for its status, under
// a key derived from the fingerprint key (HKDF-SHA256), with AES-256-GCM, a
// random nonce, and boundTo (the request's uid) as associated data.
//
// Fingerprints in the clear would be an oracle: a requester could file a
// request about a guessed person, read its fingerprint and compare it with
// a LegalHold's or a receipt's, learning whom they name. Sealed, the value
// differs for every request (even two about the same person), reveals
// nothing without the key, and cannot be moved to another request.
func SealFingerprints(key []byte, boundTo string, fps []IdentityFingerprint) (string, error) {
	aead, err := sealer(key)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(fps)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(boundTo))), nil
}

// ErrSealBroken: sealed fingerprints that do not open with this key for
// this request (another key, another request, or changed).
var ErrSealBroken = errors.New("the sealed subject fingerprints do not open with the fingerprint key for this request")

// OpenFingerprints decrypts what SealFingerprints sealed for boundTo.
func OpenFingerprints(key []byte, boundTo, sealed string) ([]IdentityFingerprint, error) {
	aead, err := sealer(key)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(data) < aead.NonceSize() {
		return nil, ErrSealBroken
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(boundTo))
	if err != nil {
		return nil, ErrSealBroken
	}
	var fps []IdentityFingerprint
	if err := json.Unmarshal(plain, &fps); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealBroken, err)
	}
	return fps, nil
}

func sealer(key []byte) (cipher.AEAD, error) {
	if len(key) == 0 {
		return nil, errors.New("no fingerprint key")
	}
	k, err := hkdf.Key(sha256.New, key, nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
