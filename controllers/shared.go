package controllers

import (
	"time"

	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
)

// Shared is what the three reconcilers are wired with alike: one client,
// one dispatcher, one key cache, one namespace policy, one clock and one
// wake-up path.
type Shared struct {
	client.Client
	// APIReader reads Secrets uncached, so that no Secret informer runs.
	APIReader  client.Reader
	Recorder   events.EventRecorder
	Dispatcher *dispatch.Dispatcher
	// Keys caches the DataSources' signing keys.
	Keys *KeyRing
	// Policy decides which namespaces' DataSources are honoured.
	Policy nspolicy.Policy
	// Clock is the operator's one clock; tests move it.
	Clock clock.PassiveClock
	// Wakeups carries the dispatcher's outcomes back to the reconcilers.
	Wakeups *Wakeups
	// Receipts, when set, keeps a signed receipt of every finished request
	// and retention run (a request is not deleted before its receipt is
	// written) and gives the fingerprints LegalHolds match.
	Receipts *Receipts
}

// defaults fills what a test or a caller left unset.
func (s *Shared) defaults() {
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	if s.Wakeups == nil {
		s.Wakeups = &Wakeups{}
	}
	if s.Keys == nil {
		s.Keys = &KeyRing{Reader: s.APIReader}
	}
}

// newPass starts a reconcile pass for owner: the dispatcher's outcomes for
// it, and the job ledger at one instant read from the clock.
func (s *Shared) newPass(owner dispatch.Owner, generation int64, poll time.Duration) passEffects {
	pass := jobs.Ledger{Clock: s.Clock, PollInterval: poll}.Pass(generation)
	e := newPassEffects(s.Dispatcher, owner)
	e.pass, e.now = pass, pass.Now()
	return e
}
