package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/deadline"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// leaseMargin is added to a delivery's timeout before an attempt without
// outcome counts as lost (the operator restarted mid-delivery) and is sent
// again under the same job id.
const leaseMargin = 30 * time.Second

// requestScope carries one reconcile pass: what was read, what was decided,
// and the side effects to run once status is stored.
type requestScope struct {
	passEffects
	pr     *privacyv1alpha1.PrivacyRequest
	before *privacyv1alpha1.PrivacyRequest
	now    time.Time

	overdue   bool
	noSources bool
	// invalidSpec is a spec that passed admission but can never work (a
	// selector that does not parse): the request is Stalled until it is
	// changed, instead of failing every pass.
	invalidSpec error
	deleteNow   bool

	dataSources map[types.NamespacedName]*privacyv1alpha1.DataSource
	identities  map[string]string
	subjectErr  error
}

func (s *requestScope) result() ctrl.Result {
	if s.requeueAt.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(s.requeueAt.Sub(s.now), 100*time.Millisecond)}
}

func (s *requestScope) dueAt() time.Time { return s.pr.Status.DueAt.Time }

// runPhases runs the steps of a pass in order; each reads and writes the
// scope. The first error ends the pass after status is stored.
func (r *PrivacyRequestReconciler) runPhases(ctx context.Context, s *requestScope) error {
	r.reconcileDueDate(s)
	if requestFinished(s.pr) {
		return r.reconcileFinished(ctx, s)
	}
	r.reconcileSuspend(s)
	if err := r.reconcileSources(ctx, s); err != nil {
		return err
	}
	if err := r.reconcileOutcomes(ctx, s); err != nil {
		return err
	}
	if err := r.reconcileDispatch(ctx, s); err != nil {
		return err
	}
	return r.reconcileFinish(ctx, s)
}

// reconcileDueDate records when the request is due and whether it is late.
func (r *PrivacyRequestReconciler) reconcileDueDate(s *requestScope) {
	pr := s.pr
	due := metav1.NewTime(deadline.DueAt(pr.Spec, pr.CreationTimestamp.Time))
	pr.Status.DueAt = &due
	if requestFinished(pr) {
		return
	}
	s.overdue = !s.now.Before(due.Time)
	if s.overdue {
		if conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue,
			privacyv1alpha1.ReasonDeadlineExceeded, "The request passed its due date "+due.UTC().Format(time.RFC3339)+" unfinished.") {
			s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonDeadlineExceeded, "Due date %s passed", due.UTC().Format(time.RFC3339))
		}
		return
	}
	conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionOverdue)
	s.wakeAt(due.Time)
}

// reconcileSuspend reports spec.suspend; dispatch holds while it is set.
func (r *PrivacyRequestReconciler) reconcileSuspend(s *requestScope) {
	pr := s.pr
	if pr.Spec.Suspend {
		if conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionSuspended, metav1.ConditionTrue,
			privacyv1alpha1.ReasonSuspended, "spec.suspend is true: no job is dispatched until it is set to false.") {
			s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonSuspended, "Dispatch suspended")
		}
		return
	}
	if conditions.IsTrue(pr.Status.Conditions, privacyv1alpha1.ConditionSuspended) {
		s.event(corev1.EventTypeNormal, "Resumed", "Dispatch resumed")
	}
	conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionSuspended)
}

// reconcileSources loads the DataSources and, once dispatch may start,
// fixes the targeted ones into status.sources so the account stays stable.
func (r *PrivacyRequestReconciler) reconcileSources(ctx context.Context, s *requestScope) error {
	pr := s.pr
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list); err != nil {
		return fmt.Errorf("list DataSources: %w", err)
	}
	s.dataSources = make(map[types.NamespacedName]*privacyv1alpha1.DataSource, len(list.Items))
	for i := range list.Items {
		ds := &list.Items[i]
		s.dataSources[types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}] = ds
	}
	if len(pr.Status.Sources) > 0 || pr.Spec.Suspend {
		return nil
	}

	matched, err := r.matchingSources(ctx, pr, list.Items)
	var invalid *invalidSelectorError
	if errors.As(err, &invalid) {
		s.invalidSpec = err
		return nil
	}
	if err != nil {
		return err
	}
	if len(matched) == 0 {
		s.noSources = true
		s.wakeAt(s.now.Add(r.Config.NoSourcesRetry))
		return nil
	}
	for _, ds := range matched {
		pr.Status.Sources = append(pr.Status.Sources, privacyv1alpha1.SourceStatus{
			Namespace: ds.Namespace,
			Name:      ds.Name,
			JobID:     JobID(pr.UID, ds.Namespace, ds.Name),
			Phase:     privacyv1alpha1.SourcePhasePending,
		})
	}
	started := metav1.NewTime(s.now)
	pr.Status.StartedAt = &started
	s.event(corev1.EventTypeNormal, "Dispatching", "Dispatching %s jobs to %d data sources", pr.Spec.Type, len(matched))
	return nil
}

// matchingSources are the DataSources in allowed namespaces that handle the
// request's type and match its selectors, sorted by namespace and name.
func (r *PrivacyRequestReconciler) matchingSources(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest, all []privacyv1alpha1.DataSource) ([]*privacyv1alpha1.DataSource, error) {
	dsSel, err := selectorOf(pr.Spec.DataSourceSelector)
	if err != nil {
		return nil, &invalidSelectorError{field: "spec.dataSourceSelector", err: err}
	}
	nsSel, err := selectorOf(pr.Spec.NamespaceSelector)
	if err != nil {
		return nil, &invalidSelectorError{field: "spec.namespaceSelector", err: err}
	}
	nsLabels := map[string]labels.Set{}
	var out []*privacyv1alpha1.DataSource
	for i := range all {
		ds := &all[i]
		if !handles(ds, pr.Spec.Type) || !dsSel.Matches(labels.Set(ds.Labels)) {
			continue
		}
		set, err := namespaceLabels(ctx, r.Client, nsLabels, ds.Namespace)
		if err != nil {
			return nil, err
		}
		// A namespace the operator does not honour never receives a job,
		// whatever the request selects.
		if !r.Config.Policy.Allows(ds.Namespace, set) || !nsSel.Matches(set) {
			continue
		}
		out = append(out, ds)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// reconcileOutcomes records what the dispatcher and the callbacks brought.
func (r *PrivacyRequestReconciler) reconcileOutcomes(ctx context.Context, s *requestScope) error {
	pr := s.pr
	for i := range pr.Status.Sources {
		src := &pr.Status.Sources[i]
		o, ok := s.outcomes[src.JobID]
		if !ok {
			continue
		}
		s.consumed[src.JobID] = o
		if sourceFinished(src.Phase) {
			continue
		}
		if err := r.applyOutcome(ctx, s, src, o); err != nil {
			// Not consumed: the outcome is applied again on the next pass.
			delete(s.consumed, src.JobID)
			return err
		}
	}
	return nil
}

func (r *PrivacyRequestReconciler) applyOutcome(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, o dispatch.Outcome) error {
	pr := s.pr
	gen := pr.Generation
	retry := retryPolicy(s.dataSources[types.NamespacedName{Namespace: src.Namespace, Name: src.Name}])
	switch o.Result {
	case dispatch.ResultFinal:
		return r.applyFinal(ctx, s, src, o)
	case dispatch.ResultAccepted:
		src.Phase = privacyv1alpha1.SourcePhaseDispatched
		src.Message = ""
		next := attemptAt(s.now.Add(r.Config.PollInterval))
		src.NextAttemptAt = &next
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionTrue,
			privacyv1alpha1.ReasonAccepted, "The source accepted the job and works on it.")
	case dispatch.ResultRunning:
		next := attemptAt(s.now.Add(r.Config.PollInterval))
		src.NextAttemptAt = &next
	case dispatch.ResultUnknown:
		// The source lost the job (it restarted without a durable store):
		// deliver it again under the same id.
		src.Phase = privacyv1alpha1.SourcePhasePending
		src.NextAttemptAt = nil
		src.Message = "The source no longer knows the job; delivering it again."
	case dispatch.ResultPermanent:
		reason := privacyv1alpha1.ReasonRefused
		if o.Reason == privacyv1alpha1.ReasonResultTooLarge {
			reason = privacyv1alpha1.ReasonResultTooLarge
		}
		r.failSource(s, src, reason, o.Message)
	case dispatch.ResultRetry:
		src.Message = o.Message
		if src.Phase == privacyv1alpha1.SourcePhaseDispatched {
			// A failed poll: ask again later.
			next := attemptAt(s.now.Add(max(min(o.RetryAfter, retry.max), r.Config.PollInterval)))
			src.NextAttemptAt = &next
			return nil
		}
		if src.Attempts >= retry.maxAttempts {
			r.failSource(s, src, privacyv1alpha1.ReasonRetriesExhausted,
				fmt.Sprintf("%d deliveries failed; the last: %s", src.Attempts, o.Message))
			return nil
		}
		wait := min(o.RetryAfter, retry.max) // a source may not ask for more than maxBackoff
		if wait <= 0 {
			wait = dispatch.Backoff(int(src.Attempts), retry.initial, retry.max)
		}
		next := attemptAt(s.now.Add(wait))
		src.NextAttemptAt = &next
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionFalse,
			privacyv1alpha1.ReasonRetrying, fmt.Sprintf("Attempt %d of %d failed (%s); next at %s.",
				src.Attempts, retry.maxAttempts, o.Message, next.UTC().Format(time.RFC3339)))
	}
	return nil
}

// applyFinal records a source's final JobStatus (and stores Access data).
func (r *PrivacyRequestReconciler) applyFinal(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, o dispatch.Outcome) error {
	pr := s.pr
	st := o.Status
	gen := pr.Generation
	// A final answer proves delivery, even when the Accepted outcome was
	// overtaken by the callback before this pass.
	conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionTrue,
		privacyv1alpha1.ReasonAccepted, "The source took the job.")
	if st.Status == protocol.StatusFailed {
		r.failSource(s, src, privacyv1alpha1.ReasonSourceFailed, "The source reported failure: "+st.Message)
		return nil
	}
	var records int64
	if st.Result != nil {
		records = st.Result.Records
		if err := r.fileAccessData(ctx, s, src, o); err != nil {
			return fmt.Errorf("store access data of %s/%s: %w", src.Namespace, src.Name, err)
		}
	}
	src.Records = &records
	src.NextAttemptAt = nil
	src.Message = st.Message
	if st.Status == protocol.StatusNotFound {
		src.Phase = privacyv1alpha1.SourcePhaseNotFound
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionCompleted, metav1.ConditionTrue,
			privacyv1alpha1.ReasonNotFound, "The source holds no data on the subject.")
	} else {
		src.Phase = privacyv1alpha1.SourcePhaseCompleted
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionCompleted, metav1.ConditionTrue,
			privacyv1alpha1.ReasonCompleted, fmt.Sprintf("The source finished the job (%d records).", records))
	}
	// No Event per source that succeeded: status records it, and an Event
	// per source and request would multiply Event writes by the number of
	// sources (measured: a quarter of the engine's throughput in the bench).
	// The request's own Completed Event says when all are done.
	r.observeJob(s, src)
	return nil
}

// fileAccessData files an Access answer's data as the source's part of the
// export: spooled data by rename, data kept in the outcome by a write.
func (r *PrivacyRequestReconciler) fileAccessData(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, o dispatch.Outcome) error {
	pr := s.pr
	if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess || r.Exports == nil {
		return nil
	}
	part := export.PartName(src.Namespace, src.Name)
	switch {
	case o.DataFile != "":
		return r.Exports.AdoptPart(ctx, string(pr.UID), part, o.DataFile)
	case o.Status.Result != nil && len(o.Status.Result.Data) > 0:
		return r.Exports.WritePart(ctx, string(pr.UID), part, o.Status.Result.Data)
	}
	return nil
}

func (r *PrivacyRequestReconciler) failSource(s *requestScope, src *privacyv1alpha1.SourceStatus, reason, message string) {
	src.Phase = privacyv1alpha1.SourcePhaseFailed
	src.NextAttemptAt = nil
	src.Message = truncate(message, 1024)
	conditions.Set(&src.Conditions, s.pr.Generation, privacyv1alpha1.SourceConditionCompleted, metav1.ConditionFalse, reason, src.Message)
	s.sourceEvent(src.Namespace, src.Name, corev1.EventTypeWarning, reason, "Data source %s/%s failed: %s", src.Namespace, src.Name, truncate(message, 256))
	r.observeJob(s, src)
}

func (r *PrivacyRequestReconciler) observeJob(s *requestScope, src *privacyv1alpha1.SourceStatus) {
	ns, name, phase, reqType := src.Namespace, src.Name, string(src.Phase), string(s.pr.Spec.Type)
	var took float64 = -1
	if st := s.pr.Status.StartedAt; st != nil {
		took = s.now.Sub(st.Time).Seconds()
	}
	s.observe = append(s.observe, func() {
		jobsTotal.WithLabelValues(ns, name, phase).Inc()
		if took >= 0 {
			jobDuration.WithLabelValues(reqType).Observe(took)
		}
	})
}

// reconcileDispatch hands due work to the dispatcher: deliveries of pending
// jobs and polls of accepted ones. The attempt is counted here, in status,
// before the dispatcher sends anything.
func (r *PrivacyRequestReconciler) reconcileDispatch(ctx context.Context, s *requestScope) error {
	pr := s.pr
	for i := range pr.Status.Sources {
		src := &pr.Status.Sources[i]
		if sourceFinished(src.Phase) {
			continue
		}
		key := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
		ds := s.dataSources[key]
		if !s.now.Before(s.dueAt()) {
			if src.Phase == privacyv1alpha1.SourcePhaseDispatched && ds != nil {
				r.queueCancel(ctx, s, src, ds)
			}
			r.failSource(s, src, privacyv1alpha1.ReasonDeadlineExceeded, "The request's due date passed before the source finished.")
			continue
		}
		if ds == nil {
			r.failSource(s, src, privacyv1alpha1.ReasonSourceDeleted, "The DataSource was deleted before its job finished.")
			continue
		}
		if src.NextAttemptAt != nil && s.now.Before(src.NextAttemptAt.Time) && !r.deliveryLost(s, src) {
			s.wakeAt(src.NextAttemptAt.Time)
			continue
		}
		if pr.Spec.Suspend {
			continue
		}
		switch src.Phase {
		case privacyv1alpha1.SourcePhaseDispatched:
			r.queuePoll(ctx, s, src, ds)
		default:
			r.queueDelivery(ctx, s, src, ds)
		}
	}
	return nil
}

func (r *PrivacyRequestReconciler) queueDelivery(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, ds *privacyv1alpha1.DataSource) {
	pr := s.pr
	gen := pr.Generation
	if r.Dispatcher.InFlight(src.JobID, dispatch.OpDeliver) {
		return
	}
	if ds.Spec.Suspend {
		src.Message = "The DataSource is suspended; the job waits until it is resumed."
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionFalse,
			privacyv1alpha1.ReasonSourceSuspended, src.Message)
		return
	}
	if ready := conditions.Get(ds.Status.Conditions, privacyv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		msg := "The DataSource is not Ready yet; the job waits for it until the due date."
		if ready != nil {
			msg = fmt.Sprintf("The DataSource is not Ready (%s: %s); the job waits for it until the due date.", ready.Reason, ready.Message)
		}
		r.holdSource(s, src, privacyv1alpha1.ReasonSourceNotReady, msg)
		return
	}
	retry := retryPolicy(ds)
	if src.Attempts >= retry.maxAttempts {
		r.failSource(s, src, privacyv1alpha1.ReasonRetriesExhausted, fmt.Sprintf("%d deliveries got no answer.", src.Attempts))
		return
	}
	ids, err := r.subjectIdentities(ctx, s)
	if err != nil {
		reason := privacyv1alpha1.ReasonSubjectError
		if errors.Is(err, identity.ErrSecretRefused) {
			reason = privacyv1alpha1.ReasonSubjectSecretRefused
		}
		r.holdSource(s, src, reason, err.Error())
		return
	}
	sent, missing := identity.Minimise(ids, ds.Spec.Identities)
	if len(sent) == 0 {
		r.failSource(s, src, privacyv1alpha1.ReasonMissingIdentities,
			"The request has none of the identity types the source needs: "+strings.Join(missing, ", ")+".")
		return
	}
	if len(missing) > 0 {
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionIdentitiesComplete, metav1.ConditionFalse,
			privacyv1alpha1.ReasonMissingIdentities, "The request lacks identity types the source declared: "+strings.Join(missing, ", ")+".")
	} else {
		conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionIdentitiesComplete, metav1.ConditionTrue,
			privacyv1alpha1.ReasonAllIdentitiesPresent, "The request has every identity type the source declared.")
	}
	target, err := r.Keys.Target(ctx, ds, r.Clock.Now())
	if err != nil {
		r.holdSource(s, src, privacyv1alpha1.ReasonSigningSecretError, err.Error())
		return
	}

	src.Attempts++
	lease := attemptAt(s.now.Add(target.Timeout + leaseMargin))
	src.NextAttemptAt = &lease
	conditions.Set(&src.Conditions, gen, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionFalse,
		privacyv1alpha1.ReasonDelivering, fmt.Sprintf("Delivering attempt %d of %d.", src.Attempts, retry.maxAttempts))
	s.wakeAt(lease.Time)
	s.submit = append(s.submit, dispatch.Work{
		Owner: s.owner, Op: dispatch.OpDeliver, JobID: src.JobID, Target: target,
		Job: buildJob(pr, src.JobID, sent),
	})
}

// deliveryLost reports a delivery that status says is under way but that
// this process neither has open nor has an outcome for: it was started by
// an operator process that is gone. It is sent again at once (same job id,
// so the source applies it once) instead of after its lease.
func (r *PrivacyRequestReconciler) deliveryLost(s *requestScope, src *privacyv1alpha1.SourceStatus) bool {
	if src.Phase != privacyv1alpha1.SourcePhasePending || src.Attempts == 0 {
		return false
	}
	dispatched := conditions.Get(src.Conditions, privacyv1alpha1.SourceConditionDispatched)
	if dispatched == nil || dispatched.Reason != privacyv1alpha1.ReasonDelivering {
		return false // waiting out a backoff, not a delivery
	}
	return !r.Dispatcher.Pending(s.owner, src.JobID, dispatch.OpDeliver)
}

// holdSource keeps a job undelivered for a reason that may pass (a Secret
// not yet created, say) and looks again after the poll interval, until the
// request's due date.
func (r *PrivacyRequestReconciler) holdSource(s *requestScope, src *privacyv1alpha1.SourceStatus, reason, message string) {
	src.Message = truncate(message, 1024)
	conditions.Set(&src.Conditions, s.pr.Generation, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionFalse, reason, src.Message)
	s.wakeAt(s.now.Add(r.Config.PollInterval))
}

func (r *PrivacyRequestReconciler) queuePoll(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, ds *privacyv1alpha1.DataSource) {
	next := attemptAt(s.now.Add(r.Config.PollInterval))
	src.NextAttemptAt = &next
	s.wakeAt(next.Time)
	if r.Dispatcher.InFlight(src.JobID, dispatch.OpPoll) {
		return
	}
	target, err := r.Keys.Target(ctx, ds, r.Clock.Now())
	if err != nil {
		src.Message = err.Error()
		return
	}
	s.submit = append(s.submit, dispatch.Work{Owner: s.owner, Op: dispatch.OpPoll, JobID: src.JobID, Target: target})
}

func (r *PrivacyRequestReconciler) queueCancel(ctx context.Context, s *requestScope, src *privacyv1alpha1.SourceStatus, ds *privacyv1alpha1.DataSource) {
	if target, err := r.Keys.Target(ctx, ds, r.Clock.Now()); err == nil {
		s.submit = append(s.submit, dispatch.Work{Owner: s.owner, Op: dispatch.OpCancel, JobID: src.JobID, Target: target})
	}
}

// subjectIdentities resolves the subject once per pass.
func (r *PrivacyRequestReconciler) subjectIdentities(ctx context.Context, s *requestScope) (map[string]string, error) {
	if s.identities == nil && s.subjectErr == nil {
		s.identities, s.subjectErr = identity.Resolve(ctx, r.APIReader, r.Config.SubjectSecrets, s.pr.Spec.Subject)
	}
	return s.identities, s.subjectErr
}

// reconcileFinish ends the request once every source has finished: Completed
// when all succeeded, Failed (naming the failed sources) otherwise; an
// Access request gets its export.
func (r *PrivacyRequestReconciler) reconcileFinish(ctx context.Context, s *requestScope) error {
	pr := s.pr
	if len(pr.Status.Sources) == 0 {
		return nil
	}
	var failed []string
	for _, src := range pr.Status.Sources {
		if !sourceFinished(src.Phase) {
			return nil
		}
		if src.Phase == privacyv1alpha1.SourcePhaseFailed {
			failed = append(failed, src.Namespace+"/"+src.Name)
		}
	}
	if pr.Spec.Type == privacyv1alpha1.RequestTypeAccess && r.Exports != nil {
		if err := r.writeExport(ctx, s); err != nil {
			return err
		}
	}
	completed := metav1.NewTime(s.now)
	pr.Status.CompletedAt = &completed
	if len(failed) > 0 {
		pr.Status.Phase = privacyv1alpha1.RequestPhaseFailed
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonFailed, "Request failed at %d of %d data sources: %s",
			len(failed), len(pr.Status.Sources), strings.Join(failed, ", "))
	} else {
		pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonCompleted, "Request completed at all %d data sources", len(pr.Status.Sources))
	}
	reqType, outcome := string(pr.Spec.Type), string(pr.Status.Phase)
	s.observe = append(s.observe, func() { requestsTotal.WithLabelValues(reqType, outcome).Inc() })
	s.overdue = false
	return r.reconcileFinished(ctx, s)
}

func (r *PrivacyRequestReconciler) writeExport(ctx context.Context, s *requestScope) error {
	pr := s.pr
	m := export.Manifest{Request: pr.Name, UID: string(pr.UID), CreatedAt: s.now.UTC()}
	for _, src := range pr.Status.Sources {
		var records int64
		if src.Records != nil {
			records = *src.Records
		}
		m.Sources = append(m.Sources, export.Source{Namespace: src.Namespace, Name: src.Name, Status: string(src.Phase), Records: records})
	}
	ref, err := r.Exports.Assemble(ctx, m)
	if err != nil {
		return fmt.Errorf("write access export: %w", err)
	}
	pr.Status.Export = &privacyv1alpha1.ExportReference{
		Location: ref.Location, SHA256: ref.SHA256, Bytes: ref.Bytes,
		ExpiresAt: metav1.NewTime(s.now.Add(r.Config.ExportTTL)),
	}
	s.event(corev1.EventTypeNormal, "ExportWritten", "Access export written (%d bytes), kept until %s",
		ref.Bytes, pr.Status.Export.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

// reconcileFinished keeps the operator's own retention: the export expires
// after --export-ttl and the request is deleted after its TTL.
func (r *PrivacyRequestReconciler) reconcileFinished(ctx context.Context, s *requestScope) error {
	pr := s.pr
	if exp := pr.Status.Export; exp != nil && r.Exports != nil {
		if s.now.Before(exp.ExpiresAt.Time) {
			s.wakeAt(exp.ExpiresAt.Time)
		} else {
			if err := r.Exports.Delete(ctx, string(pr.UID)); err != nil {
				return fmt.Errorf("delete expired export: %w", err)
			}
			pr.Status.Export = nil
			s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonExportExpired, "Access export expired and was deleted")
		}
	}
	// As in batch/v1 Job: an explicit ttlSecondsAfterFinished, 0 included,
	// deletes the request that long after it finished. Unset, the
	// operator's default applies, and a default of 0 keeps it.
	ttl, keep := r.Config.DefaultTTLAfterFinished, r.Config.DefaultTTLAfterFinished <= 0
	if pr.Spec.TTLSecondsAfterFinished != nil {
		ttl, keep = time.Duration(*pr.Spec.TTLSecondsAfterFinished)*time.Second, false
	}
	if !keep && pr.Status.CompletedAt != nil {
		expiry := pr.Status.CompletedAt.Add(ttl)
		if s.now.Before(expiry) {
			s.wakeAt(expiry)
		} else {
			s.deleteNow = true
		}
	}
	return nil
}

// attemptAt is the time of a next attempt as status stores it: rounded up
// to the whole second, because metav1.Time keeps seconds only. Rounding
// down would wake the next pass early and spend one of maxAttempts before
// the wait a source asked for (Retry-After) was over.
func attemptAt(t time.Time) metav1.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return metav1.NewTime(t)
}

// JobID is the id of the job of request uid at a DataSource: stable across
// retries and restarts, so that sources can deduplicate by it.
func JobID(uid types.UID, namespace, name string) string {
	sum := sha256.Sum256([]byte(string(uid) + "/" + namespace + "/" + name))
	return "pr-" + hex.EncodeToString(sum[:16])
}

func buildJob(pr *privacyv1alpha1.PrivacyRequest, jobID string, identities map[string]string) *protocol.Job {
	due := pr.Status.DueAt.UTC()
	job := &protocol.Job{
		APIVersion: protocol.APIVersion,
		Kind:       protocol.KindJob,
		ID:         jobID,
		Type:       protocol.JobType(pr.Spec.Type),
		Request:    protocol.RequestRef{Kind: KindPrivacyRequest, Name: pr.Name, UID: string(pr.UID)},
		Subject:    &protocol.Subject{Identities: identities},
		Deadline:   &due,
	}
	switch pr.Spec.Type {
	case privacyv1alpha1.RequestTypeCorrect:
		for _, c := range pr.Spec.Corrections {
			job.Corrections = append(job.Corrections, protocol.Correction{Field: c.Field, Value: c.Value})
		}
	case privacyv1alpha1.RequestTypeOptOut:
		scopes := []string{privacyv1alpha1.DefaultOptOutScope}
		if pr.Spec.OptOut != nil && len(pr.Spec.OptOut.Scopes) > 0 {
			scopes = pr.Spec.OptOut.Scopes
		}
		job.OptOut = &protocol.OptOut{Scopes: scopes}
	}
	return job
}

type retrySettings struct {
	maxAttempts  int32
	initial, max time.Duration
}

// retryPolicy reads a DataSource's retry settings, with the API defaults
// for a DataSource that is gone.
func retryPolicy(ds *privacyv1alpha1.DataSource) retrySettings {
	p := retrySettings{maxAttempts: 5, initial: 10 * time.Second, max: 10 * time.Minute}
	if ds == nil {
		return p
	}
	if ds.Spec.Retry.MaxAttempts > 0 {
		p.maxAttempts = ds.Spec.Retry.MaxAttempts
	}
	if d := ds.Spec.Retry.InitialBackoff; d != nil && d.Duration > 0 {
		p.initial = d.Duration
	}
	if d := ds.Spec.Retry.MaxBackoff; d != nil && d.Duration > 0 {
		p.max = d.Duration
	}
	return p
}

func handles(ds *privacyv1alpha1.DataSource, t privacyv1alpha1.RequestType) bool {
	return slices.Contains(ds.Spec.RequestTypes, t)
}

// invalidSelectorError is a selector that admission let through but that
// does not parse (an unknown operator, say): no pass can ever succeed.
type invalidSelectorError struct {
	field string
	err   error
}

func (e *invalidSelectorError) Error() string {
	return fmt.Sprintf("%s cannot be used: %v; change it to a valid label selector", e.field, e.err)
}

func (e *invalidSelectorError) Unwrap() error { return e.err }

func selectorOf(sel *metav1.LabelSelector) (labels.Selector, error) {
	if sel == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(sel)
}

func sourceFinished(p privacyv1alpha1.SourcePhase) bool {
	switch p {
	case privacyv1alpha1.SourcePhaseCompleted, privacyv1alpha1.SourcePhaseNotFound,
		privacyv1alpha1.SourcePhaseFailed, privacyv1alpha1.SourcePhaseCancelled:
		return true
	}
	return false
}

func requestFinished(pr *privacyv1alpha1.PrivacyRequest) bool {
	switch pr.Status.Phase {
	case privacyv1alpha1.RequestPhaseCompleted, privacyv1alpha1.RequestPhaseFailed, privacyv1alpha1.RequestPhaseCancelled:
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// namespaceLabels reads a namespace's labels through the cache, once per pass.
func namespaceLabels(ctx context.Context, c client.Reader, seen map[string]labels.Set, namespace string) (labels.Set, error) {
	if set, ok := seen[namespace]; ok {
		return set, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return nil, fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	seen[namespace] = labels.Set(ns.Labels)
	return seen[namespace], nil
}
