package wiring

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// compactFinishedRequest slims the cached copy of a finished request
// once its receipt is recorded (or at once when no receipts are kept):
// thousands of finished requests stay in the cache until their TTL, and
// nothing the operator does after the finish (export expiry, deliveries,
// TTL deletion) reads what goes. The API server keeps everything: kubectl
// and every other reader see the full account.
//
//   - The per-source entries go, all but the Held ones: the receipt is made
//     from them (so they stay until status.receipt is set), and the
//     PrivacyTask controller tells a clerk which hold made an open task
//     moot from the Held ones, which are few. A request whose replay
//     records are not all stored is not compacted yet.
//   - The sealed fingerprints of the subject go: they are opened only to
//     match holds against work under way and to make the receipt.
//   - The short strings every request repeats (condition types, statuses
//     and reasons, phase, namespace, finalizers, identity types, key ids,
//     requester) are shared between cached requests instead of each
//     holding its own decoded copy.
//
// Status fields only are dropped: the operator writes a request's status
// by patches computed against this copy, so what the copy lacks is never
// written back, and spec is left whole (a finalizer update sends it).
func compactFinishedRequest(obj any, receipts bool) {
	pr, ok := obj.(*privacyv1alpha1.PrivacyRequest)
	if !ok || pr.Status.CompletedAt == nil || (receipts && pr.Status.Receipt == nil) || replayPending(pr) {
		return
	}
	held := slices.DeleteFunc(pr.Status.Sources, func(e privacyv1alpha1.SourceStatus) bool {
		return e.Phase != privacyv1alpha1.SourcePhaseHeld
	})
	// A copy: the cache must not keep the whole entries' array.
	pr.Status.Sources = nil
	if len(held) > 0 {
		pr.Status.Sources = slices.Clone(held)
	}
	if sub := pr.Status.Subject; sub != nil {
		sub.SealedFingerprints = ""
		sub.FingerprintKeyID = shared.of(sub.FingerprintKeyID)
		for i := range sub.IdentityTypes {
			sub.IdentityTypes[i] = shared.of(sub.IdentityTypes[i])
		}
	}
	pr.Namespace = shared.of(pr.Namespace)
	for i := range pr.Finalizers {
		pr.Finalizers[i] = shared.of(pr.Finalizers[i])
	}
	pr.Spec.Type = privacyv1alpha1.RequestType(shared.of(string(pr.Spec.Type)))
	pr.Spec.Regulation = privacyv1alpha1.Regulation(shared.of(string(pr.Spec.Regulation)))
	pr.Spec.Requester = shared.of(pr.Spec.Requester)
	pr.Status.Phase = privacyv1alpha1.RequestPhase(shared.of(string(pr.Status.Phase)))
	for i := range pr.Status.Conditions {
		c := &pr.Status.Conditions[i]
		c.Type, c.Reason, c.Message = shared.of(c.Type), shared.of(c.Reason), shared.of(c.Message)
		c.Status = metav1.ConditionStatus(shared.of(string(c.Status)))
	}
}

// replayPending reports a request with a replay record not yet stored:
// handing it over again (after a restart) reads the entry and the sealed
// fingerprints, so the copy stays whole until every record is stored.
func replayPending(pr *privacyv1alpha1.PrivacyRequest) bool {
	for _, e := range pr.Status.Sources {
		if e.Replay != nil && !e.Replay.Stored {
			return true
		}
	}
	return false
}

// shared holds one copy of each short string the cached finished requests
// repeat. Bounded: past maxShared distinct strings a string is kept as
// decoded, so a stream of unusual values cannot grow it.
var shared = &stringTable{m: map[string]string{}}

const (
	maxShared       = 4096
	maxSharedLength = 128
)

type stringTable struct {
	mu sync.Mutex
	m  map[string]string
}

func (t *stringTable) of(s string) string {
	if s == "" || len(s) > maxSharedLength {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m[s]; ok {
		return v
	}
	if len(t.m) < maxShared {
		t.m[s] = s
	}
	return s
}
