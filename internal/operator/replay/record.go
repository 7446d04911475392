// Package replay keeps what a Delete, Correct or OptOut sent to a data
// source that declares backups, so that it can be sent again after the
// source restores one (issue #28). Records are sealed with AES-256-GCM
// under a key per UTC day (a period); the keys live in a Secret of the
// operator's namespace, and deleting a period's key erases every record
// sealed under it wherever copies of the records exist (crypto-erasure),
// including in backups of the store that holds them.
//
// This package is the records, their sealing, the keys, the Archive that
// keeps them in the receipt store, the Recorder that writes them off the
// reconcile workers, the erasure cutoff and the replayed jobs' ids. The
// controllers record jobs as they finish at sources with spec.backups,
// sweep on the leader, and replay for a Restore (docs/backups.md).
package replay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// Record is what the operator sent to one source for one job that
// finished successfully there: enough to send the same job again.
type Record struct {
	// Namespace and Name are the DataSource's.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// JobID is the original job's id; a replay's job id derives from it.
	JobID string                      `json:"jobID"`
	Type  privacyv1alpha1.RequestType `json:"type"`
	// Identities are the ones the source received (the types it declares).
	Identities  map[string]string            `json:"identities"`
	Corrections []privacyv1alpha1.Correction `json:"corrections,omitempty"`
	Scopes      []string                     `json:"scopes,omitempty"`
	// FinishedAt is when the source reported the job done: a restore of a
	// backup taken before it replays the record.
	FinishedAt time.Time `json:"finishedAt"`
	// Fingerprints are the subject's, over all of its identities (not only
	// those the source received), so that a LegalHold active at the
	// restore is matched as it would be for a new request.
	Fingerprints []receipt.IdentityFingerprint `json:"fingerprints,omitempty"`
	// FingerprintKeyID names the key the fingerprints were made with: made
	// with another key than the operator's at the restore, they match no
	// hold, and a hold that names people holds the Delete (fail closed).
	FingerprintKeyID string `json:"fingerprintKeyID,omitempty"`
	// SourceUID and Endpoint are the DataSource's uid and endpoint when the
	// job was sent: a record is replayed only to the source and endpoint
	// that received the job, never to a DataSource re-created under the
	// same name or pointed elsewhere since.
	SourceUID string `json:"sourceUID,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
}

// EndpointOf is a DataSource's endpoint as a record keeps it: its URL, or
// its Service with port, path and scheme.
func EndpointOf(ds *privacyv1alpha1.DataSource) string {
	e := ds.Spec.Endpoint
	if e.Service != nil {
		return fmt.Sprintf("service:%s:%d%s:%s", e.Service.Name, e.Service.Port, e.Service.Path, e.Service.Scheme)
	}
	return e.URL
}

// Period is the day (UTC) a record is sealed under: its key's name.
func Period(t time.Time) string { return t.UTC().Format(periodLayout) }

const periodLayout = "2006-01-02"

// periodTime is the start of a period, or false for a malformed name.
func periodTime(period string) (time.Time, bool) {
	t, err := time.Parse(periodLayout, period)
	return t, err == nil && t.Format(periodLayout) == period
}

// ErrSealBroken: a sealed record that does not open with the key given
// (another period's key, another record's name, changed, or erased).
var ErrSealBroken = errors.New("the replay record does not open with this period's key")

// Seal encrypts r under its period's key, bound (associated data) to its
// period and to name, the object it is stored as, so that a record cannot
// be moved to another period or place.
func Seal(key []byte, name string, r Record) ([]byte, error) {
	aead, err := aeadOf(key)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, bound(Period(r.FinishedAt), name)), nil
}

// Open decrypts a record sealed under period's key as name.
func Open(key []byte, period, name string, sealed []byte) (Record, error) {
	var r Record
	aead, err := aeadOf(key)
	if err != nil {
		return r, err
	}
	if len(sealed) < aead.NonceSize() {
		return r, ErrSealBroken
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], bound(period, name))
	if err != nil {
		return r, ErrSealBroken
	}
	if err := json.Unmarshal(plain, &r); err != nil {
		return r, fmt.Errorf("a replay record that opens but does not decode: %w", err)
	}
	if Period(r.FinishedAt) != period {
		return r, ErrSealBroken
	}
	return r, nil
}

func bound(period, name string) []byte {
	return []byte("privacy-operator replay record v1\x00" + period + "\x00" + name)
}

func aeadOf(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("a replay key has %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
