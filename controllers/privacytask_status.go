package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

// computeStatus derives a task's Completed and Late conditions from its
// outcome and the clock; it is their only writer. A task that grows later
// gets a Warning Event (the reminder), once per step.
func (r *PrivacyTaskReconciler) computeStatus(s *taskScope) {
	t := s.task
	if o := t.Spec.Outcome; o != nil {
		conditions.Set(&t.Status.Conditions, t.Generation, privacyv1alpha1.TaskConditionCompleted, metav1.ConditionTrue, string(o.Result),
			fmt.Sprintf("Completed by %s at %s.", o.CompletedBy, o.CompletedAt.UTC().Format(time.RFC3339)))
		conditions.Remove(&t.Status.Conditions, privacyv1alpha1.TaskConditionLate)
		return
	}
	if s.heldBy != "" {
		was := conditions.Get(t.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
		// kubectl privacy reads the hold's name from the start of this message.
		conditions.Set(&t.Status.Conditions, t.Generation, privacyv1alpha1.TaskConditionCompleted, metav1.ConditionFalse, privacyv1alpha1.ReasonLegalHold,
			fmt.Sprintf("LegalHold %s now covers this job: do not carry it out. The task can no longer be completed; its request accounts for the source as held.", s.heldBy))
		conditions.Remove(&t.Status.Conditions, privacyv1alpha1.TaskConditionLate)
		if was == nil || was.Reason != privacyv1alpha1.ReasonLegalHold {
			s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonLegalHold, "LegalHold %s now covers this task's job: it must not be carried out", s.heldBy)
		}
		return
	}
	if s.ownerDone {
		conditions.Set(&t.Status.Conditions, t.Generation, privacyv1alpha1.TaskConditionCompleted, metav1.ConditionFalse, privacyv1alpha1.ReasonRequestFinished,
			"The request finished without this task's outcome (see its status): nothing more is needed, and the task can no longer be completed.")
		conditions.Remove(&t.Status.Conditions, privacyv1alpha1.TaskConditionLate)
		return
	}
	msg := "Waiting for a person to do the task and set its outcome"
	if t.Spec.AssigneeGroup != "" {
		msg += " (assigned to " + t.Spec.AssigneeGroup + ")"
	}
	conditions.Set(&t.Status.Conditions, t.Generation, privacyv1alpha1.TaskConditionCompleted, metav1.ConditionFalse, privacyv1alpha1.ReasonTaskOpen, msg+".")

	reason, message, next := Lateness(t, s.now)
	s.state = reason
	if !next.IsZero() {
		s.wakeAt(next)
	}
	status := metav1.ConditionTrue
	if reason == privacyv1alpha1.ReasonOnTime {
		status = metav1.ConditionFalse
	}
	var was string
	if old := conditions.Get(t.Status.Conditions, privacyv1alpha1.TaskConditionLate); old != nil {
		was = old.Reason
	}
	conditions.Set(&t.Status.Conditions, t.Generation, privacyv1alpha1.TaskConditionLate, status, reason, message)
	if status == metav1.ConditionTrue && was != reason {
		s.event(corev1.EventTypeWarning, reason, "Reminder: %s", message)
	}
}

// Lateness says how late an open task is at now: OnTime, PastHalfSLA,
// PastSLA or PastDueDate (the request's due date), with a message for the
// Late condition and the time it next changes (zero: never).
func Lateness(t *privacyv1alpha1.PrivacyTask, now time.Time) (reason, message string, next time.Time) {
	created := t.CreationTimestamp.Time
	var sla, due time.Time
	if t.Spec.SLADueAt != nil {
		sla = t.Spec.SLADueAt.Time
	}
	if t.Spec.DueAt != nil {
		due = t.Spec.DueAt.Time
	}
	half := created.Add(sla.Sub(created) / 2)
	earliest := func(ts ...time.Time) time.Time {
		var m time.Time
		for _, x := range ts {
			if !x.IsZero() && x.After(now) && (m.IsZero() || x.Before(m)) {
				m = x
			}
		}
		return m
	}
	stamp := func(x time.Time) string { return x.UTC().Format(time.RFC3339) }
	switch {
	case !due.IsZero() && !now.Before(due):
		return privacyv1alpha1.ReasonPastDueDate, "The task is open past the request's due date " + stamp(due) + ".", time.Time{}
	case !sla.IsZero() && !now.Before(sla):
		return privacyv1alpha1.ReasonPastSLA, "The task is open past its SLA (" + stamp(sla) + ").", earliest(due)
	case !sla.IsZero() && !now.Before(half):
		return privacyv1alpha1.ReasonPastHalfSLA, "The task is open past half of its SLA, which ends " + stamp(sla) + ".", earliest(sla, due)
	}
	return privacyv1alpha1.ReasonOnTime, "The task is within the first half of its SLA.", earliest(half, sla, due)
}

// openTasks tracks the lateness of every open task, for the gauge
// privacyoperator_tasks_open{namespace, state}.
type openTasks struct {
	mu    sync.Mutex
	state map[types.NamespacedName]string
}

var tasksOpen = gaugeVec("privacyoperator_tasks_open",
	"Open PrivacyTasks of manual DataSources by namespace and state (OnTime, PastHalfSLA, PastSLA, PastDueDate).",
	"namespace", "state")

var taskStates = []string{privacyv1alpha1.ReasonOnTime, privacyv1alpha1.ReasonPastHalfSLA, privacyv1alpha1.ReasonPastSLA, privacyv1alpha1.ReasonPastDueDate}

// set records a task's state ("": completed or gone) and refreshes the
// gauge of its namespace.
func (o *openTasks) set(key types.NamespacedName, state string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state == nil {
		o.state = map[types.NamespacedName]string{}
	}
	if state == "" {
		delete(o.state, key)
	} else {
		o.state[key] = state
	}
	counts := map[string]int{}
	for k, st := range o.state {
		if k.Namespace == key.Namespace {
			counts[st]++
		}
	}
	for _, st := range taskStates {
		tasksOpen.WithLabelValues(key.Namespace, st).Set(float64(counts[st]))
	}
}

// tasksOf wakes the tasks of a request or policy of the given kind.
func tasksOf(c client.Reader, kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &privacyv1alpha1.PrivacyTaskList{}
		if err := c.List(ctx, list, client.MatchingFields{IndexTaskRequest: kind + "/" + obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, t := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}})
		}
		return out
	})
}

// requestFinishedOrGone passes a request's finish and deletion: the two
// facts that start or end its tasks' grace period.
var requestFinishedOrGone = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, oldOK := e.ObjectOld.(*privacyv1alpha1.PrivacyRequest)
		cur, curOK := e.ObjectNew.(*privacyv1alpha1.PrivacyRequest)
		return !oldOK || !curOK || (old.Status.CompletedAt == nil) != (cur.Status.CompletedAt == nil) ||
			!slices.Equal(old.Status.HeldBy, cur.Status.HeldBy)
	},
}

// runFinishedOrGone passes a policy's deletion and a change in which of
// its runs have finished or are kept.
var runFinishedOrGone = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, oldOK := e.ObjectOld.(*privacyv1alpha1.RetentionPolicy)
		cur, curOK := e.ObjectNew.(*privacyv1alpha1.RetentionPolicy)
		return !oldOK || !curOK || finishedRuns(old) != finishedRuns(cur)
	},
}

func finishedRuns(rp *privacyv1alpha1.RetentionPolicy) string {
	var out string
	for _, run := range rp.Status.History {
		if run.CompletedAt != nil {
			out += run.ScheduledTime.UTC().Format(time.RFC3339) + ","
		}
		// A source held while its task was open makes the task moot.
		for _, src := range run.Sources {
			if src.Phase == privacyv1alpha1.SourcePhaseHeld {
				out += src.JobID + ","
			}
		}
	}
	return out
}
