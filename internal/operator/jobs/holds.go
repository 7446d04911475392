package jobs

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

// A LegalHold filed while a job is under way (a PrivacyTask open for days,
// a job a source accepted with 202 and works on) must still stop it: holds
// are checked again at every pass for the Delete and Purge jobs that have
// not ended, not only when a job is built.

// HoldUnderWay records that hold now covers e's job, which a source or a
// person already has. A manual source's open task ends Held at once: no
// one has recorded doing it, and its PrivacyTask becomes moot (the
// completion policy refuses to complete it). An accepted job at an
// endpoint must be cancelled there: cancel is true the first time, when
// the owner sends DELETE /jobs/{id}, again at every pass until the source
// answers (a cancel that was lost is not the end of it); the entry keeps
// waiting for the source's answer, and cancelAnswered says how it ends.
func (p *Pass) HoldUnderWay(e *Entry, hold, message string) (cancel bool, c Change) {
	if e.Task != "" {
		return false, p.Withhold(e, hold, message+" The PrivacyTask of this job is moot: it must not be carried out.")
	}
	if CancelRequested(e) && e.Hold == hold {
		return true, Change{}
	}
	e.Hold = hold
	p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonCancelRequested, truncate(message+
		" The job was under way at the source, which was asked to cancel it: it ends Held if the source cancels it, as it finished otherwise.", maxMessage))
	return true, Change{}
}

// CancelRequested reports an accepted job whose cancel a LegalHold asked
// for (HoldUnderWay), while the source has not answered it.
func CancelRequested(e *Entry) bool {
	c := conditions.Get(e.Conditions, privacyv1alpha1.SourceConditionDispatched)
	return e.Phase == privacyv1alpha1.SourcePhaseDispatched && c != nil && c.Reason == privacyv1alpha1.ReasonCancelRequested
}

// cancelAnswered ends a job whose cancel a hold asked for, by the source's
// final answer: a failure is the cancellation (Held, the hold as its
// basis); a success is what the source did before the cancel reached it
// (it ends as it finished, the hold still named, so that the account says
// the hold came too late).
func (p *Pass) cancelAnswered(e *Entry, failed bool, records int64, message string) Change {
	hold := e.Hold
	if failed {
		return p.Withhold(e, hold, "LegalHold "+hold+": the source cancelled the job before it finished ("+message+").")
	}
	c := p.succeed(e, false, records, "The source finished the job before LegalHold "+hold+" stopped it: "+message)
	e.Hold = hold
	return c
}
