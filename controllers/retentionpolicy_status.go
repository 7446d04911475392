package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

// computePolicyStatus derives the kstatus conditions, Suspended, Matched
// and Overlapping; it is their only writer.
func (r *RetentionPolicyReconciler) computePolicyStatus(s *policyScope) {
	rp := s.rp
	gen := rp.Generation
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		conditions.Set(&rp.Status.Conditions, gen, t, status, reason, msg)
	}
	if s.invalid != nil {
		// The message names the bad field; the spec holds no personal data.
		set(privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, s.invalidReason, s.invalid.Error())
		set(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, s.invalidReason, s.invalid.Error())
		conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionReconciling)
		rp.Status.NextScheduleTime = nil
		return
	}
	conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionStalled)
	observePeriod(rp.Name, s.sched.Next(s.now), s.sched.Next(s.sched.Next(s.now)))
	if last := rp.Status.LastSuccessfulTime; last != nil {
		// From status, so the gauge survives an operator restart.
		lastSuccessTimestamp.WithLabelValues(rp.Name).Set(float64(last.Unix()))
	}

	if len(s.matched) == 0 {
		set(privacyv1alpha1.ConditionMatched, metav1.ConditionFalse, privacyv1alpha1.ReasonNoMatchingSources,
			"No DataSource in an allowed namespace handles Purge, holds one of the categories and matches the selectors; check them for a typo.")
	} else {
		set(privacyv1alpha1.ConditionMatched, metav1.ConditionTrue, privacyv1alpha1.ReasonSourcesMatched,
			fmt.Sprintf("The policy applies to %d DataSources.", len(s.matched)))
	}
	if len(s.overlaps) > 0 {
		set(privacyv1alpha1.ConditionOverlapping, metav1.ConditionTrue, privacyv1alpha1.ReasonOverlappingPolicies,
			truncate("Other policies cover the same data (both run; the shorter retainFor wins): "+strings.Join(s.overlaps, "; "), 32768))
	} else {
		set(privacyv1alpha1.ConditionOverlapping, metav1.ConditionFalse, privacyv1alpha1.ReasonNoOverlap, "No other policy covers the same data.")
	}

	if run := activeRun(rp); run != nil {
		set(privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonPurging,
			fmt.Sprintf("Purging slot %s.", run.ScheduledTime.Format(time.RFC3339)))
	} else {
		conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionReconciling)
	}
	var last *privacyv1alpha1.RetentionRun
	for i := range rp.Status.History {
		if rp.Status.History[i].Outcome != privacyv1alpha1.RunOutcomeRunning {
			last = &rp.Status.History[i]
			break
		}
	}
	if rp.Spec.Suspend {
		// Held as asked, not judged: no Ready (kstatus, which Flux uses,
		// reads the policy Current instead of InProgress forever).
		set(privacyv1alpha1.ConditionSuspended, metav1.ConditionTrue, privacyv1alpha1.ReasonSuspended, "The policy is suspended; no purge is scheduled.")
		conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionReady)
		return
	}
	conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionSuspended)
	switch {
	case len(s.matched) == 0:
		set(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonNoMatchingSources, "The policy matches no DataSource.")
	case last != nil && last.Outcome != privacyv1alpha1.RunOutcomeSucceeded:
		set(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonRunFailed,
			fmt.Sprintf("The run of %s ended %s; see status.history.", last.ScheduledTime.Format(time.RFC3339), last.Outcome))
	default:
		set(privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonScheduled,
			"The policy is enforced on schedule.")
	}
}
