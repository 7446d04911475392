package controllers

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
)

// computeStatus derives the request-level summary, phase and kstatus
// conditions from the per-source entries. It is the only writer of
// summary, progress, phase, heldBy, Ready, Reconciling, Stalled.
func (r *PrivacyRequestReconciler) computeStatus(s *requestScope) {
	pr := s.pr
	gen := pr.Generation
	if requestFinished(s.before) {
		// Written once, by the pass that finished the request; the cache
		// holds finished requests without their sources
		// (wiring.CacheOptions), so they must not be derived again.
		return
	}

	sum := privacyv1alpha1.RequestSummary{Total: int32(len(pr.Status.Sources))}
	var failed, held, refused, partial []string
	heldBy := map[string]bool{}
	for _, src := range pr.Status.Sources {
		switch src.Phase {
		case privacyv1alpha1.SourcePhaseCompleted, privacyv1alpha1.SourcePhaseNotFound:
			sum.Succeeded++
		case privacyv1alpha1.SourcePhaseFailed, privacyv1alpha1.SourcePhaseCancelled:
			sum.Failed++
			failed = append(failed, src.Namespace+"/"+src.Name)
		case privacyv1alpha1.SourcePhaseHeld:
			sum.Held++
			held = append(held, fmt.Sprintf("%s/%s (LegalHold %s)", src.Namespace, src.Name, src.Hold))
			heldBy[src.Hold] = true
		case privacyv1alpha1.SourcePhaseRefused:
			sum.Refused++
			refused = append(refused, fmt.Sprintf("%s/%s (%s)", src.Namespace, src.Name, src.Exemption))
		default:
			sum.Pending++
		}
		if len(src.MissingIdentities) > 0 && (src.Phase == privacyv1alpha1.SourcePhaseCompleted || src.Phase == privacyv1alpha1.SourcePhaseNotFound) {
			sum.PartialSearch++
			partial = append(partial, fmt.Sprintf("%s/%s (without %s)", src.Namespace, src.Name, strings.Join(src.MissingIdentities, ", ")))
		}
	}
	// An honest account: a source searched without an identity type it
	// declares may hold more than it found.
	searched := ""
	if len(partial) > 0 {
		searched = fmt.Sprintf(" %d searched without every identity type they declare: %s.", len(partial), strings.Join(partial, ", "))
	}
	if sum.Total > 0 {
		pr.Status.Summary = &sum
		pr.Status.Progress = fmt.Sprintf("%d/%d", sum.Succeeded+sum.Failed+sum.Held+sum.Refused, sum.Total)
	}
	pr.Status.HeldBy = nil
	for name := range heldBy {
		pr.Status.HeldBy = append(pr.Status.HeldBy, name)
	}
	sort.Strings(pr.Status.HeldBy)

	pr.Status.Phase = requestPhase(pr, sum)

	setReady := func(status metav1.ConditionStatus, reason, message string) {
		conditions.Set(&pr.Status.Conditions, gen, privacyv1alpha1.ConditionReady, status, reason, message)
	}
	setReconciling := func(reason, message string) {
		conditions.Set(&pr.Status.Conditions, gen, privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	}
	switch {
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted && sum.Refused > 0:
		// A partial denial under exemptions, each with its basis (CCPA
		// 7022(f), 7024), and any holds beside them.
		msg := fmt.Sprintf("%d of %d data sources finished; %d refused under an exemption: %s.",
			sum.Succeeded, sum.Total, sum.Refused, strings.Join(refused, ", "))
		if sum.Held > 0 {
			msg += fmt.Sprintf(" %d were not sent the request because legal holds keep their data: %s.", sum.Held, strings.Join(held, ", "))
		}
		setReady(metav1.ConditionTrue, privacyv1alpha1.ReasonCompletedWithRefusals, truncate(msg+searched, 32768))
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted && sum.Held > 0:
		// A partial denial, with its basis (CCPA 7022(f)).
		setReady(metav1.ConditionTrue, privacyv1alpha1.ReasonCompletedWithHolds,
			truncate(fmt.Sprintf("%d of %d data sources finished; %d were not sent the request because legal holds keep their data: %s.",
				sum.Succeeded, sum.Total, sum.Held, strings.Join(held, ", "))+searched, 32768))
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted:
		setReady(metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted, truncate(
			fmt.Sprintf("All %d data sources finished (%d held no data).", sum.Total, countPhase(pr, privacyv1alpha1.SourcePhaseNotFound))+searched, 32768))
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseFailed:
		msg := fmt.Sprintf("%d of %d data sources failed: %s.", sum.Failed, sum.Total, strings.Join(failed, ", "))
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonFailed, msg)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Set(&pr.Status.Conditions, gen, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonFailed, msg)
	case s.invalidSpec != nil:
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonInvalidSpec, s.invalidSpec.Error())
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Set(&pr.Status.Conditions, gen, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInvalidSpec, s.invalidSpec.Error())
	case s.exportErr != nil:
		msg := fmt.Sprintf("All %d data sources finished; the Access export could not be written and is retried (their data is kept): %v", sum.Total, s.exportErr)
		if done := sum.Succeeded + sum.Failed; done < sum.Total {
			msg = fmt.Sprintf("%d of %d data sources finished; storing a source's answer for the Access export failed and is retried: %v", done, sum.Total, s.exportErr)
		}
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonExportFailed, msg)
		setReconciling(privacyv1alpha1.ReasonExportFailed, msg)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case pr.Spec.Suspend && sum.Total == 0:
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonSuspended, "Suspended: no job has been dispatched.")
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case s.noSources:
		msg := fmt.Sprintf("No DataSource handles %s and matches the selectors; looking again until the due date.", pr.Spec.Type)
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonNoMatchingSources, msg)
		setReconciling(privacyv1alpha1.ReasonNoMatchingSources, msg)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	case subjectRefused(pr) != "":
		msg := "No job is sent: " + subjectRefused(pr)
		setReady(metav1.ConditionFalse, privacyv1alpha1.ReasonSubjectSecretRefused, msg)
		setReconciling(privacyv1alpha1.ReasonSubjectSecretRefused, msg)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	default:
		msg := fmt.Sprintf("%d of %d data sources finished.", sum.Succeeded+sum.Failed+sum.Held+sum.Refused, sum.Total)
		reason := privacyv1alpha1.ReasonInProgress
		if pr.Status.Phase == privacyv1alpha1.RequestPhasePending {
			reason = privacyv1alpha1.ReasonPending
		}
		setReady(metav1.ConditionFalse, reason, msg)
		setReconciling(reason, msg)
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionStalled)
	}
}

func countPhase(pr *privacyv1alpha1.PrivacyRequest, p privacyv1alpha1.SourcePhase) int {
	n := 0
	for _, src := range pr.Status.Sources {
		if src.Phase == p {
			n++
		}
	}
	return n
}

// requestPhase is the only writer of status.phase: Completed or Failed
// once the request finished, InProgress once a job was sent, else Pending.
func requestPhase(pr *privacyv1alpha1.PrivacyRequest, sum privacyv1alpha1.RequestSummary) privacyv1alpha1.RequestPhase {
	switch {
	case requestFinished(pr) && sum.Failed > 0:
		return privacyv1alpha1.RequestPhaseFailed
	case requestFinished(pr):
		return privacyv1alpha1.RequestPhaseCompleted
	}
	for _, src := range pr.Status.Sources {
		if src.Attempts > 0 || jobs.Finished(src.Phase) {
			return privacyv1alpha1.RequestPhaseInProgress
		}
	}
	return privacyv1alpha1.RequestPhasePending
}

// requestFinished reports a request that has ended: its finish time is set
// once, by reconcileFinish, and the phase follows from it.
func requestFinished(pr *privacyv1alpha1.PrivacyRequest) bool {
	return pr.Status.CompletedAt != nil
}

// subjectRefused is the message of a source that waits because the
// request's subject Secret is refused, "" when none does: the request waits
// for a person to fix the Secret or the request.
func subjectRefused(pr *privacyv1alpha1.PrivacyRequest) string {
	for _, src := range pr.Status.Sources {
		if c := conditions.Get(src.Conditions, privacyv1alpha1.SourceConditionDispatched); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == privacyv1alpha1.ReasonSubjectSecretRefused {
			return c.Message
		}
	}
	return ""
}

// actionNeeded are the reasons of Ready that wait for a person: each is
// announced by a Warning Event once, when the request enters it.
var actionNeeded = map[string]bool{
	privacyv1alpha1.ReasonNoMatchingSources:    true,
	privacyv1alpha1.ReasonSubjectSecretRefused: true,
	privacyv1alpha1.ReasonInvalidSpec:          true,
}

// announceActionNeeded emits the Warning Event of a Ready reason that waits
// for a person, when the pass moved the request into it.
func announceActionNeeded(s *requestScope) {
	now := conditions.Get(s.pr.Status.Conditions, privacyv1alpha1.ConditionReady)
	if now == nil || !actionNeeded[now.Reason] {
		return
	}
	if was := conditions.Get(s.before.Status.Conditions, privacyv1alpha1.ConditionReady); was != nil && was.Reason == now.Reason {
		return
	}
	s.event(corev1.EventTypeWarning, now.Reason, "%s", now.Message)
}
