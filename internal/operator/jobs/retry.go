package jobs

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
)

// Retry is a DataSource's retry policy.
type Retry struct {
	MaxAttempts  int32
	Initial, Max time.Duration
}

// RetryOf reads a DataSource's retry settings, with the API defaults for a
// DataSource that is gone.
func RetryOf(ds *privacyv1alpha1.DataSource) Retry {
	p := Retry{MaxAttempts: 5, Initial: 10 * time.Second, Max: 10 * time.Minute}
	if ds == nil {
		return p
	}
	if ds.Spec.Retry.MaxAttempts > 0 {
		p.MaxAttempts = ds.Spec.Retry.MaxAttempts
	}
	if d := ds.Spec.Retry.InitialBackoff; d != nil && d.Duration > 0 {
		p.Initial = d.Duration
	}
	if d := ds.Spec.Retry.MaxBackoff; d != nil && d.Duration > 0 {
		p.Max = d.Duration
	}
	return p
}

func (p *Pass) applyRetry(e *Entry, o dispatch.Outcome, retry Retry) Change {
	e.Message = truncate(o.Message, maxMessage)
	// A source may not ask for more than maxBackoff.
	asked := min(o.RetryAfter, retry.Max)
	if e.Phase == privacyv1alpha1.SourcePhaseDispatched {
		// A failed poll: ask again later.
		return p.waitUntil(e, p.now.Add(max(asked, p.l.PollInterval)))
	}
	if e.Attempts >= retry.MaxAttempts {
		return p.Fail(e, privacyv1alpha1.ReasonRetriesExhausted,
			fmt.Sprintf("%d deliveries failed; the last: %s", e.Attempts, o.Message))
	}
	wait := asked
	if wait <= 0 {
		wait = p.l.Backoff(int(e.Attempts), retry.Initial, retry.Max)
	}
	c := p.waitUntil(e, p.now.Add(wait))
	p.setDispatched(e, metav1.ConditionFalse, privacyv1alpha1.ReasonRetrying, fmt.Sprintf("Attempt %d of %d failed (%s); next at %s.",
		e.Attempts, retry.MaxAttempts, o.Message, e.NextAttemptAt.UTC().Format(time.RFC3339)))
	return c
}
