package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
	"github.com/privacyoperator/privacy-operator/internal/operator/schedule"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// policyScope carries one pass over a RetentionPolicy.
type policyScope struct {
	passEffects
	rp     *privacyv1alpha1.RetentionPolicy
	before *privacyv1alpha1.RetentionPolicy

	sched     cron.Schedule
	retainFor time.Duration
	// invalidReason is the condition reason of invalid.
	invalidReason string
	invalid       error
	matched       map[types.NamespacedName][]privacyv1alpha1.DataCategory
	nsLabels      map[string]labels.Set // read once per pass
	dataSources   map[types.NamespacedName]*privacyv1alpha1.DataSource
	overlaps      []string
	// holds are the active LegalHolds, read at the pass's first delivery.
	holds legalhold.Set
}

// runPhases: check the spec, match sources, find overlaps, advance the
// active run, start the slot that is due, then keep the finished runs'
// receipts.
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
		if err := r.reconcileRun(ctx, s, run); err != nil {
			return err
		}
	}
	if err := r.startDueSlot(ctx, s); err != nil {
		return err
	}
	r.reconcileRunReceipts(s)
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
	if err := policySelectorsError(s.rp); s.invalid == nil && err != nil {
		s.invalid, s.invalidReason = err, privacyv1alpha1.ReasonInvalidSpec
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
	// The cached DataSources themselves, not copies: read only.
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
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
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
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
func (r *RetentionPolicyReconciler) startDueSlot(ctx context.Context, s *policyScope) error {
	rp := s.rp
	if rp.Spec.Suspend {
		rp.Status.NextScheduleTime = nil
		return nil
	}
	next := metav1.NewTime(s.sched.Next(s.now).UTC())
	rp.Status.NextScheduleTime = &next
	s.wakeAt(next.Time)
	if activeRun(rp) != nil {
		return nil
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
		return nil
	}
	slotTime := metav1.NewTime(slot.UTC())
	before := metav1.NewTime(slot.Add(-s.retainFor).UTC())
	deadline := metav1.NewTime(s.sched.Next(s.now).UTC())
	run := privacyv1alpha1.RetentionRun{ScheduledTime: slotTime, Before: &before, Deadline: &deadline, Outcome: privacyv1alpha1.RunOutcomeRunning,
		Categories: rp.Spec.Categories, Action: rp.Spec.Action}
	keys := make([]types.NamespacedName, 0, len(s.matched))
	for key := range s.matched {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, key := range keys {
		run.Sources = append(run.Sources, privacyv1alpha1.SourceStatus{
			Namespace: key.Namespace, Name: key.Name,
			JobID: retention.JobID(rp.UID, slot, key), Phase: privacyv1alpha1.SourcePhasePending,
		})
	}
	rp.Status.LastScheduleTime = &slotTime
	rp.Status.History = append([]privacyv1alpha1.RetentionRun{run}, rp.Status.History...)
	if limit := int(max(rp.Spec.HistoryLimit, 1)); len(rp.Status.History) > limit {
		rp.Status.History = rp.Status.History[:limit]
	}
	s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonPurgeStarted, "Purging data older than %s at %d data sources (slot %s)",
		before.Format(time.RFC3339), len(run.Sources), slotTime.Format(time.RFC3339))
	// A run with no source ends at once.
	return r.reconcileRun(ctx, s, activeRun(rp))
}

// reconcileRun runs the job ledger over the active run's sources, as for
// a request's, then ends the run once every source has finished.
func (r *RetentionPolicyReconciler) reconcileRun(ctx context.Context, s *policyScope, run *privacyv1alpha1.RetentionRun) error {
	j := &jobPass{
		Pass: s.pass, effects: &s.passEffects, dispatcher: r.Dispatcher, keys: r.Keys, dataSources: s.dataSources,
		tasks: &taskDesk{client: r.Client, reader: r.APIReader, owner: privacyv1alpha1.TaskRequestReference{
			Kind: KindRetentionPolicy, Name: s.rp.Name, UID: string(s.rp.UID),
		}},
		buildJob: func(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (*protocol.Job, jobs.Change, bool) {
			return r.purgeJobUnlessHeld(ctx, s, run, e, ds)
		},
		heldNow: func(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (string, string, error) {
			return r.purgeHeldNow(ctx, s, e, ds)
		},
	}
	if err := j.recordOutcomes(ctx, run.Sources); err != nil {
		return err
	}
	var deadline time.Time
	if run.Deadline != nil {
		deadline = run.Deadline.Time
	}
	j.advance(ctx, run.Sources, jobs.Facts{
		Deadline:        deadline,
		DeadlineMessage: "The next slot came before the source finished this one.",
	})
	r.finishRun(s, run)
	return nil
}

// finishRun ends the run once every source has finished.
func (r *RetentionPolicyReconciler) finishRun(s *policyScope, run *privacyv1alpha1.RetentionRun) {
	var ok, failed int
	var records int64
	var failedNames []string
	for _, src := range run.Sources {
		switch {
		case !jobs.Finished(src.Phase):
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
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonPurgeSucceeded, "Slot %s: %d records purged at %d data sources",
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
	s.after = append(s.after, func() { observeRun(name, outcome, records, slot) })
}

// purgeJobUnlessHeld is the purge a source is sent, without the
// categories that active LegalHolds keep there (the entry names them and
// the hold); a purge whose every category is held is not sent (Held).
func (r *RetentionPolicyReconciler) purgeJobUnlessHeld(ctx context.Context, s *policyScope, run *privacyv1alpha1.RetentionRun,
	e *jobs.Entry, ds *privacyv1alpha1.DataSource) (*protocol.Job, jobs.Change, bool) {
	cats := s.matched[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]
	if err := r.readHolds(ctx, s); err != nil {
		return nil, s.pass.Hold(e, privacyv1alpha1.ReasonLegalHold, "Checking the legal holds failed; retrying: "+err.Error()), false
	}
	purge, held, holds := s.holds.Purge(ds, s.nsLabels[ds.Namespace], cats)
	e.HeldCategories, e.Hold = held, ""
	if len(held) == 0 {
		return purgeJob(s.rp, run, e.JobID, purge), jobs.Change{}, true
	}
	e.Hold = holds[0]
	msg := legalhold.CategoriesMessage(held, holds)
	if len(purge) == 0 {
		return nil, s.pass.Withhold(e, holds[0], msg), false
	}
	s.sourceEvent(e.Namespace, e.Name, corev1.EventTypeNormal, privacyv1alpha1.ReasonLegalHold, "Slot %s: %s",
		run.ScheduledTime.UTC().Format(time.RFC3339), msg)
	return purgeJob(s.rp, run, e.JobID, purge), jobs.Change{}, true
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

// policySelectorsError is a selector of the policy that admission let
// through but that does not parse: no run could ever match a source.
func policySelectorsError(rp *privacyv1alpha1.RetentionPolicy) error {
	if _, err := selectorOf(rp.Spec.DataSourceSelector); err != nil {
		return &invalidSelectorError{field: "spec.dataSourceSelector", err: err}
	}
	if _, err := selectorOf(rp.Spec.NamespaceSelector); err != nil {
		return &invalidSelectorError{field: "spec.namespaceSelector", err: err}
	}
	return nil
}

// readHolds reads the active LegalHolds once per pass.
func (r *RetentionPolicyReconciler) readHolds(ctx context.Context, s *policyScope) error {
	if s.holds != nil {
		return nil
	}
	holds, err := activeHolds(ctx, r.Client, s.now)
	if err != nil {
		return err
	}
	s.holds = holds
	return nil
}

// purgeHeldNow is the LegalHold that now covers a category of a purge
// already under way at ds (jobPass.heldNow): one that was not held when
// the job was built.
func (r *RetentionPolicyReconciler) purgeHeldNow(ctx context.Context, s *policyScope, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (string, string, error) {
	if err := r.readHolds(ctx, s); err != nil {
		return "", "", err
	}
	cats := s.matched[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]
	_, held, holds := s.holds.Purge(ds, s.nsLabels[ds.Namespace], cats)
	for _, c := range held {
		if !slices.Contains(e.HeldCategories, c) {
			return holds[0], legalhold.CategoriesMessage(held, holds), nil
		}
	}
	return "", "", nil
}
