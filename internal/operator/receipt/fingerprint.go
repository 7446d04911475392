package receipt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Fingerprint is the keyed hash that stands for an identity in a receipt:
// hex HMAC-SHA256(key, type + "\x00" + normalised value). Without the key
// it cannot be reversed or recomputed from a list of likely emails; with
// it, a person's identities find their receipts (privacyctl receipts find).
// The value is normalised as the operator normalises identities before it
// sends them (protocol.NormalizeIdentity), so that the spelling a person
// gives later still matches, and a fingerprint stands for exactly the
// value sources received.
func Fingerprint(key []byte, identityType, value string) string {
	value = protocol.NormalizeIdentity(identityType, value)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(identityType))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil))
}

// fingerprintKeyIDLabel is what FingerprintKeyID keys: the key itself is
// secret, so its id is derived through the HMAC, not a plain hash.
const fingerprintKeyIDLabel = "privacy-operator-fingerprint-key-id"

// FingerprintKeyID names a fingerprint key (16 hex characters), so that a
// receipt says which key its fingerprints need.
func FingerprintKeyID(key []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(fingerprintKeyIDLabel))
	sum := sha256.Sum256(mac.Sum(nil))
	return hex.EncodeToString(sum[:8])
}

// Fingerprints are the fingerprints of a subject's identities (type to
// value), sorted by type so that the same identities give the same receipt.
func Fingerprints(key []byte, identities map[string]string) []IdentityFingerprint {
	out := make([]IdentityFingerprint, 0, len(identities))
	for typ, value := range identities {
		out = append(out, IdentityFingerprint{Type: typ, Value: Fingerprint(key, typ, value)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
