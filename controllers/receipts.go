package controllers

import (
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// Receipts is how the reconcilers keep the signed record of what they did:
// the Notary writes each finished request's and retention run's receipt
// off the reconcile workers, and the reconcilers record where it went. The
// fingerprint key turns a subject's identities into the fingerprints that
// receipts and LegalHolds name instead of the person.
type Receipts struct {
	Notary         *receipt.Notary
	FingerprintKey []byte

	mu sync.Mutex
	// recorded remembers, for a few minutes, the receipts whose reference
	// a pass stored and whose Notary entry it dropped: a pass that runs on
	// a cache not yet showing that write must not submit the receipt again.
	recorded map[string]recordedRef
	// swept is when recorded was last swept of expired entries.
	swept time.Time
}

type recordedRef struct {
	ref receipt.Ref
	at  time.Time
}

// recordedKeep bounds how long a stored reference is remembered: far longer
// than the cache takes to show a write.
const recordedKeep = 5 * time.Minute

// keepRecent copies the entries of recorded younger than recordedKeep into
// a new map: a sweep at most every recordedKeep keeps settle O(1) through a
// burst, and the copy lets the memory of a burst's entries go (a Go map
// never shrinks).
func keepRecent(recorded map[string]recordedRef, now time.Time) map[string]recordedRef {
	kept := map[string]recordedRef{}
	for k, r := range recorded {
		if now.Sub(r.at) <= recordedKeep {
			kept[k] = r
		}
	}
	return kept
}

// WakeReceiptOwner is the Notary's wake callback: it wakes the reconciler
// of the receipt's owner so that it records the reference (or the error).
func WakeReceiptOwner(w *Wakeups) func(id string) {
	return func(id string) {
		kind, rest, ok := strings.Cut(id, "/")
		if !ok {
			return
		}
		key := types.NamespacedName{}
		if kind == KindRestore {
			// Namespaced: "Restore/<namespace>/<name>/<uid>".
			key.Namespace, rest, _ = strings.Cut(rest, "/")
		}
		key.Name, _, _ = strings.Cut(rest, "/")
		w.Notify(dispatch.Owner{Kind: kind, NamespacedName: key})
	}
}

// result is the reference of id's receipt once written: from the Notary,
// or remembered after a pass stored it.
func (rc *Receipts) result(id string) (ref receipt.Ref, lastErr error, written bool) {
	rc.mu.Lock()
	r, ok := rc.recorded[id]
	rc.mu.Unlock()
	if ok {
		return r.ref, nil, true
	}
	return rc.Notary.Result(id)
}

// settle runs once a pass stored id's reference: the Notary lets go of
// the receipt, and the reference is remembered for a while.
func (rc *Receipts) settle(id string, ref receipt.Ref, now time.Time) {
	rc.mu.Lock()
	if rc.recorded == nil || now.Sub(rc.swept) > recordedKeep {
		rc.recorded = keepRecent(rc.recorded, now)
		rc.swept = now
	}
	rc.recorded[id] = recordedRef{ref: ref, at: now}
	rc.mu.Unlock()
	rc.Notary.Forget(id)
}

// fingerprints of a subject's identities, as receipts and LegalHolds name them.
func (rc *Receipts) fingerprints(identities map[string]string) []receipt.IdentityFingerprint {
	if rc == nil || len(rc.FingerprintKey) == 0 {
		return nil
	}
	return receipt.Fingerprints(rc.FingerprintKey, identities)
}

func receiptRef(ref receipt.Ref) *privacyv1alpha1.ReceiptReference {
	return &privacyv1alpha1.ReceiptReference{Location: ref.Location, SHA256: ref.SHA256, Sequence: int64(ref.Sequence)}
}

// receiptSource is one entry of a request or a run as a receipt records it.
func receiptSource(src privacyv1alpha1.SourceStatus) receipt.Source {
	out := receipt.Source{
		Namespace: src.Namespace, Name: src.Name, JobID: src.JobID,
		Outcome: receipt.Outcome(src.Phase), Records: src.Records, Attempts: src.Attempts,
		Message: src.Message, Hold: src.Hold, Exemption: src.Exemption, Task: src.Task, CompletedBy: src.CompletedBy,
		MissingIdentities: src.MissingIdentities,
	}
	if src.FirstAttemptAt != nil {
		t := src.FirstAttemptAt.UTC()
		out.FirstAttemptAt = &t
	}
	if src.LastAttemptAt != nil {
		t := src.LastAttemptAt.UTC()
		out.LastAttemptAt = &t
	}
	for _, c := range src.HeldCategories {
		out.HeldCategories = append(out.HeldCategories, string(c))
	}
	return out
}
