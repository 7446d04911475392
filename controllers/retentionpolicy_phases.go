package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
	"github.com/privacyoperator/privacy-operator/internal/operator/schedule"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// policyScope carries one pass over a RetentionPolicy.
type policyScope struct {
	passEffects // requeueAt is on the schedule's clock
	rp          *privacyv1alpha1.RetentionPolicy
	before      *privacyv1alpha1.RetentionPolicy
	// now is the schedule's clock (injectable); wall is real time, which
	// paces deliveries, retries and polls.
	now     time.Time
	wall    time.Time
	retryAt time.Time // on the wall clock

	sched     cron.Schedule
	retainFor time.Duration
	// invalidReason is the condition reason of invalid.
	invalidReason string
	invalid       error
	matched       map[types.NamespacedName][]privacyv1alpha1.DataCategory
	nsLabels      map[string]labels.Set // read once per pass
	dataSources   map[types.NamespacedName]*privacyv1alpha1.DataSource
	overlaps      []string
}

// retryAfter asks for another pass at wall-clock time t.
func (s *policyScope) retryAfter(t time.Time) {
	if s.retryAt.IsZero() || t.Before(s.retryAt) {
		s.retryAt = t
	}
}

func (s *policyScope) result() ctrl.Result {
	var wait time.Duration
	if !s.requeueAt.IsZero() {
		wait = s.requeueAt.Sub(s.now)
	}
	if !s.retryAt.IsZero() && (wait == 0 || s.retryAt.Sub(s.wall) < wait) {
		wait = s.retryAt.Sub(s.wall)
	}
	if s.requeueAt.IsZero() && s.retryAt.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(wait, 100*time.Millisecond)}
}

// runPhases: check the spec, match sources, find overlaps, advance the
// active run, then start the slot that is due.
func (r *RetentionPolicyReconciler) runPhases(ctx context.Context, s *policyScope) error {
	if !r.parseSpec(s) {
		return nil
	}
	if err := r.matchSources(ctx, s); err != nil {
		return err
	}
	if err := r.findOverlaps(ctx, s); err != nil {
		return err
	}
	if run := activeRun(s.rp); run != nil {
		r.applyRunOutcomes(s, run)
		r.dispatchRun(ctx, s, run)
		r.finishRun(s, run)
	}
	r.startDueSlot(ctx, s)
	return nil
}

func (r *RetentionPolicyReconciler) parseSpec(s *policyScope) bool {
	tz := ""
	if s.rp.Spec.TimeZone != nil {
		tz = *s.rp.Spec.TimeZone
	}
	s.invalidReason = privacyv1alpha1.ReasonInvalidSchedule
	s.sched, s.invalid = schedule.Parse(s.rp.Spec.Schedule, tz)
	if s.invalid == nil {
		s.retainFor, s.invalid = schedule.ParsePeriod(string(s.rp.Spec.RetainFor))
	}
	if s.invalid == nil && s.retainFor < r.MinRetainFor {
		s.invalidReason = privacyv1alpha1.ReasonRetainForBelowMinimum
		s.invalid = fmt.Errorf("retainFor %s is shorter than the operator's minimum of %s (its --min-retain-for flag): the policy does not run, so that a typo cannot purge data that must be kept",
			s.rp.Spec.RetainFor, r.MinRetainFor)
	}
	return s.invalid == nil
}

// matchSources finds the DataSources (in allowed namespaces) the policy covers.
func (r *RetentionPolicyReconciler) matchSources(ctx context.Context, s *policyScope) error {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list); err != nil {
		return fmt.Errorf("list DataSources: %w", err)
	}
	s.dataSources = map[types.NamespacedName]*privacyv1alpha1.DataSource{}
	s.matched = map[types.NamespacedName][]privacyv1alpha1.DataCategory{}
	s.nsLabels = map[string]labels.Set{}
	for i := range list.Items {
		ds := &list.Items[i]
		key := types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}
		s.dataSources[key] = ds
		set, err := namespaceLabels(ctx, r.Client, s.nsLabels, ds.Namespace)
		if err != nil {
			return err
		}
		if !r.Policy.Allows(ds.Namespace, set) {
			continue
		}
		cats, err := retention.Covered(s.rp, ds, set)
		if err != nil {
			return err
		}
		if len(cats) > 0 {
			s.matched[key] = cats
		}
	}
	s.rp.Status.MatchedSources = int32(len(s.matched))
	return nil
}

// findOverlaps names the other policies that cover a category of the same
// source, for Git reviewers. Both run; the shorter retainFor wins in effect.
func (r *RetentionPolicyReconciler) findOverlaps(ctx context.Context, s *policyScope) error {
	if len(s.matched) == 0 {
		return nil
	}
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list); err != nil {
		return fmt.Errorf("list RetentionPolicies: %w", err)
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.Name == s.rp.Name {
			continue
		}
		for key, cats := range s.matched {
			set, err := namespaceLabels(ctx, r.Client, s.nsLabels, key.Namespace)
			if err != nil {
				return err
			}
			theirs, err := retention.Covered(other, s.dataSources[key], set)
			if err != nil {
				continue
			}
			for _, c := range theirs {
				for _, mine := range cats {
					if c == mine {
						s.overlaps = append(s.overlaps, fmt.Sprintf("%s (%s at %s, retainFor %s)", other.Name, c, key, other.Spec.RetainFor))
					}
				}
			}
		}
	}
	sort.Strings(s.overlaps)
	return nil
}

// startDueSlot starts a run for the latest slot that is due (missed slots
// collapse into one) unless a run is under way or the policy is suspended.
func (r *RetentionPolicyReconciler) startDueSlot(ctx context.Context, s *policyScope) {
	rp := s.rp
	if rp.Spec.Suspend {
		rp.Status.NextScheduleTime = nil
		return
	}
	next := metav1.NewTime(s.sched.Next(s.now).UTC())
	rp.Status.NextScheduleTime = &next
	s.wakeAt(next.Time)
	if activeRun(rp) != nil {
		return
	}
	// Slots count from the last run; before the first one, from the first
	// slot announced in status; on first sight, from now: a new policy
	// never runs a slot that lay before the controller first saw it.
	after := s.now
	switch {
	case rp.Status.LastScheduleTime != nil:
		after = rp.Status.LastScheduleTime.Time
	case s.before.Status.NextScheduleTime != nil:
		after = s.before.Status.NextScheduleTime.Add(-time.Second)
	}
	if after.After(s.now) {
		after = s.now
	}
	slot, ok := schedule.LatestSlot(s.sched, after, s.now)
	if !ok {
		return
	}
	slotTime := metav1.NewTime(slot.UTC())
	before := metav1.NewTime(slot.Add(-s.retainFor).UTC())
	deadline := metav1.NewTime(s.sched.Next(s.now).UTC())
	run := privacyv1alpha1.RetentionRun{ScheduledTime: slotTime, Before: &before, Deadline: &deadline, Outcome: privacyv1alpha1.RunOutcomeRunning}
	keys := make([]types.NamespacedName, 0, len(s.matched))
	for key := range s.matched {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, key := range keys {
		run.Sources = append(run.Sources, privacyv1alpha1.RetentionRunSource{
			Namespace: key.Namespace, Name: key.Name,
			JobID: retention.JobID(rp.UID, slot, key), Phase: privacyv1alpha1.SourcePhasePending,
		})
	}
	rp.Status.LastScheduleTime = &slotTime
	rp.Status.History = append([]privacyv1alpha1.RetentionRun{run}, rp.Status.History...)
	if limit := int(max(rp.Spec.HistoryLimit, 1)); len(rp.Status.History) > limit {
		rp.Status.History = rp.Status.History[:limit]
	}
	s.event(corev1.EventTypeNormal, "PurgeStarted", "Purging data older than %s at %d data sources (slot %s)",
		before.Format(time.RFC3339), len(run.Sources), slotTime.Format(time.RFC3339))
	active := activeRun(rp)
	r.dispatchRun(ctx, s, active)
	r.finishRun(s, active) // a run with no source ends at once
}

// applyRunOutcomes records what the dispatcher brought for the active run.
func (r *RetentionPolicyReconciler) applyRunOutcomes(s *policyScope, run *privacyv1alpha1.RetentionRun) {
	for i := range run.Sources {
		src := &run.Sources[i]
		o, ok := s.outcomes[src.JobID]
		if !ok {
			continue
		}
		s.consumed[src.JobID] = o
		if sourceFinished(src.Phase) {
			continue
		}
		retry := retryPolicy(s.dataSources[types.NamespacedName{Namespace: src.Namespace, Name: src.Name}])
		switch o.Result {
		case dispatch.ResultFinal:
			var records int64
			if o.Status.Result != nil {
				records = o.Status.Result.Records
			}
			src.Records, src.NextAttemptAt, src.Message = &records, nil, truncate(o.Status.Message, 1024)
			switch o.Status.Status {
			case protocol.StatusFailed:
				src.Phase = privacyv1alpha1.SourcePhaseFailed
				src.Message = truncate("The source reported failure: "+o.Status.Message, 1024)
			case protocol.StatusNotFound:
				src.Phase = privacyv1alpha1.SourcePhaseNotFound
			default:
				src.Phase = privacyv1alpha1.SourcePhaseCompleted
			}
		case dispatch.ResultAccepted, dispatch.ResultRunning:
			src.Phase = privacyv1alpha1.SourcePhaseDispatched
			next := attemptAt(s.wall.Add(r.PollInterval))
			src.NextAttemptAt = &next
		case dispatch.ResultUnknown:
			src.Phase, src.NextAttemptAt = privacyv1alpha1.SourcePhasePending, nil
		case dispatch.ResultPermanent:
			src.Phase, src.NextAttemptAt, src.Message = privacyv1alpha1.SourcePhaseFailed, nil, truncate(o.Message, 1024)
		case dispatch.ResultRetry:
			src.Message = truncate(o.Message, 1024)
			if src.Phase == privacyv1alpha1.SourcePhaseDispatched {
				next := attemptAt(s.wall.Add(max(min(o.RetryAfter, retry.max), r.PollInterval)))
				src.NextAttemptAt = &next
			} else if src.Attempts >= retry.maxAttempts {
				src.Phase, src.NextAttemptAt = privacyv1alpha1.SourcePhaseFailed, nil
				src.Message = truncate(fmt.Sprintf("%d deliveries failed; the last: %s", src.Attempts, o.Message), 1024)
			} else {
				wait := min(o.RetryAfter, retry.max) // a source may not ask for more than maxBackoff
				if wait <= 0 {
					wait = dispatch.Backoff(int(src.Attempts), retry.initial, retry.max)
				}
				next := attemptAt(s.wall.Add(wait))
				src.NextAttemptAt = &next
			}
		}
	}
}

// dispatchRun hands due deliveries and polls of the run to the dispatcher,
// after counting the attempt in status.
func (r *RetentionPolicyReconciler) dispatchRun(ctx context.Context, s *policyScope, run *privacyv1alpha1.RetentionRun) {
	for i := range run.Sources {
		src := &run.Sources[i]
		if sourceFinished(src.Phase) {
			continue
		}
		key := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
		ds := s.dataSources[key]
		switch {
		case run.Deadline != nil && !s.now.Before(run.Deadline.Time):
			src.Phase, src.NextAttemptAt = privacyv1alpha1.SourcePhaseFailed, nil
			src.Message = "The next slot came before the source finished this one."
			continue
		case ds == nil:
			src.Phase, src.NextAttemptAt = privacyv1alpha1.SourcePhaseFailed, nil
			src.Message = "The DataSource was deleted before its purge finished."
			continue
		case src.NextAttemptAt != nil && s.wall.Before(src.NextAttemptAt.Time):
			s.retryAfter(src.NextAttemptAt.Time)
			continue
		case !conditions.IsTrue(ds.Status.Conditions, privacyv1alpha1.ConditionReady):
			src.Message = "The DataSource is not Ready; the purge waits for it until the next slot."
			next := attemptAt(s.wall.Add(r.PollInterval))
			src.NextAttemptAt = &next
			s.retryAfter(next.Time)
			continue
		}
		target, err := r.Keys.Target(ctx, ds, s.wall)
		if err != nil {
			src.Message = truncate(err.Error(), 1024)
			continue
		}
		if src.Phase == privacyv1alpha1.SourcePhaseDispatched {
			next := attemptAt(s.wall.Add(r.PollInterval))
			src.NextAttemptAt = &next
			s.retryAfter(next.Time)
			s.submit = append(s.submit, dispatch.Work{Owner: s.owner, Op: dispatch.OpPoll, JobID: src.JobID, Target: target})
			continue
		}
		if r.Dispatcher.InFlight(src.JobID, dispatch.OpDeliver) {
			continue
		}
		if retry := retryPolicy(ds); src.Attempts >= retry.maxAttempts {
			src.Phase, src.NextAttemptAt = privacyv1alpha1.SourcePhaseFailed, nil
			src.Message = fmt.Sprintf("%d deliveries got no answer.", src.Attempts)
			continue
		}
		src.Attempts++
		lease := attemptAt(s.wall.Add(target.Timeout + leaseMargin))
		src.NextAttemptAt = &lease
		s.retryAfter(lease.Time)
		s.submit = append(s.submit, dispatch.Work{
			Owner: s.owner, Op: dispatch.OpDeliver, JobID: src.JobID, Target: target,
			Job: purgeJob(s.rp, run, src.JobID, s.matched[key]),
		})
	}
}

// finishRun ends the run once every source has finished.
func (r *RetentionPolicyReconciler) finishRun(s *policyScope, run *privacyv1alpha1.RetentionRun) {
	var ok, failed int
	var records int64
	var failedNames []string
	for _, src := range run.Sources {
		switch {
		case !sourceFinished(src.Phase):
			return
		case src.Phase == privacyv1alpha1.SourcePhaseFailed:
			failed++
			failedNames = append(failedNames, src.Namespace+"/"+src.Name)
		default:
			ok++
		}
		if src.Records != nil {
			records += *src.Records
		}
	}
	completed := metav1.NewTime(s.now)
	run.CompletedAt = &completed
	switch {
	case failed == 0:
		run.Outcome = privacyv1alpha1.RunOutcomeSucceeded
		last := run.ScheduledTime
		s.rp.Status.LastSuccessfulTime = &last
		s.event(corev1.EventTypeNormal, "PurgeSucceeded", "Slot %s: %d records purged at %d data sources",
			run.ScheduledTime.Format(time.RFC3339), records, ok)
	case ok == 0:
		run.Outcome = privacyv1alpha1.RunOutcomeFailed
	default:
		run.Outcome = privacyv1alpha1.RunOutcomePartiallyFailed
	}
	if failed > 0 {
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonRunFailed, "Slot %s: purge failed at %s",
			run.ScheduledTime.Format(time.RFC3339), strings.Join(failedNames, ", "))
	}
	name, outcome, slot := s.rp.Name, string(run.Outcome), run.ScheduledTime.Time
	s.observe = append(s.observe, func() { observeRun(name, outcome, records, slot) })
}

func purgeJob(rp *privacyv1alpha1.RetentionPolicy, run *privacyv1alpha1.RetentionRun, jobID string, cats []privacyv1alpha1.DataCategory) *protocol.Job {
	categories := make([]string, 0, len(cats))
	for _, c := range cats {
		categories = append(categories, string(c))
	}
	deadline := run.Deadline.UTC()
	return &protocol.Job{
		APIVersion: protocol.APIVersion,
		Kind:       protocol.KindJob,
		ID:         jobID,
		Type:       protocol.JobPurge,
		Request:    protocol.RequestRef{Kind: KindRetentionPolicy, Name: rp.Name, UID: string(rp.UID)},
		Purge:      &protocol.Purge{Categories: categories, Before: run.Before.UTC(), Action: protocol.PurgeAction(rp.Spec.Action)},
		Deadline:   &deadline,
	}
}

// activeRun is the run under way (always the newest), or nil.
func activeRun(rp *privacyv1alpha1.RetentionPolicy) *privacyv1alpha1.RetentionRun {
	if len(rp.Status.History) > 0 && rp.Status.History[0].Outcome == privacyv1alpha1.RunOutcomeRunning {
		return &rp.Status.History[0]
	}
	return nil
}
