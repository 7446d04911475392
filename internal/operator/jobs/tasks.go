package jobs

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// A manual source's job is a PrivacyTask done by a person: assigned,
// completed with an outcome, or lost (the task deleted) and assigned again.

// Assign records that a manual source's job became the PrivacyTask task:
// it counts as the one delivery, and the entry waits, without a timer, for
// the task's outcome (the owner watches tasks) or the deadline.
func (p *Pass) Assign(e *Entry, task string, slaDueAt time.Time) Change {
	if e.Attempts == 0 {
		e.Attempts = 1
	}
	at := metav1.NewTime(p.now.Truncate(time.Second))
	if e.FirstAttemptAt == nil {
		e.FirstAttemptAt = &at
	}
	e.LastAttemptAt = &at
	e.Phase = privacyv1alpha1.SourcePhaseDispatched
	e.Task = task
	e.NextAttemptAt = nil
	e.Message = ""
	p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonTaskAssigned,
		fmt.Sprintf("PrivacyTask %s/%s waits for a person (SLA until %s).", e.Namespace, task, slaDueAt.UTC().Format(time.RFC3339)))
	return Change{}
}

// ApplyTask records the outcome a person set on a manual source's task, as
// Apply records a source's final answer: Completed and NotFound succeed,
// Failed fails the entry, Refused (with its exemption) refuses it. The
// entry names who completed it.
func (p *Pass) ApplyTask(e *Entry, o privacyv1alpha1.TaskOutcome) Change {
	e.CompletedBy = o.CompletedBy
	msg := "Completed by " + o.CompletedBy
	if o.Note != "" {
		msg += ": " + o.Note
	}
	switch o.Result {
	case privacyv1alpha1.TaskResultFailed:
		if o.Records != nil {
			e.Records = new(*o.Records)
		}
		p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonTaskAssigned, "The task was done by a person.")
		return p.Fail(e, privacyv1alpha1.ReasonTaskFailed, "Task failed, reported by "+o.CompletedBy+": "+o.Note)
	case privacyv1alpha1.TaskResultRefused:
		p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonTaskAssigned, "The task was done by a person.")
		if o.Exemption == "" {
			// An outcome from before exemptions were asked for.
			return p.Fail(e, privacyv1alpha1.ReasonTaskRefused, "Task refused by "+o.CompletedBy+": "+o.Note)
		}
		return p.Refuse(e, o.Exemption, msg)
	}
	var records int64
	if o.Records != nil {
		records = *o.Records
	}
	return p.succeed(e, o.Result == privacyv1alpha1.TaskResultNotFound, records, msg)
}

// TaskLost puts back a manual source's job that has no task to wait for
// (its PrivacyTask was deleted before it was completed, or the source
// became manual while the job was at its endpoint): Next delivers it
// again, as a task (same name).
func (p *Pass) TaskLost(e *Entry, message string) Change {
	e.Phase = privacyv1alpha1.SourcePhasePending
	e.NextAttemptAt = nil
	e.Message = message
	return Change{}
}
