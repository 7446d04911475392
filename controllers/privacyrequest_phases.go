package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/deadline"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// requestScope carries one reconcile pass: what was read, what was decided,
// and the side effects to run once status is stored.
type requestScope struct {
	passEffects
	pr     *privacyv1alpha1.PrivacyRequest
	before *privacyv1alpha1.PrivacyRequest

	overdue bool
	// dueSoon: unfinished, past --due-soon-share of its time, not overdue.
	dueSoon   bool
	noSources bool
	// invalidSpec is a spec that passed admission but can never work (a
	// selector that does not parse): the request is Stalled until it is
	// changed, instead of failing every pass.
	invalidSpec error
	// exportErr is why the Access export, or a source's part of it, could
	// not be written: the request stays unfinished, with its sources' data
	// kept, and the step is retried.
	exportErr error
	deleteNow bool
	// handedOver are the jobs whose replay records this pass hands over.
	handedOver map[string]bool

	dataSources map[types.NamespacedName]*privacyv1alpha1.DataSource
	identities  map[string]string
	subjectErr  error
	// fingerprints are the subject's fingerprints, made when identities
	// were resolved this pass (for LegalHold matching).
	fingerprints []receipt.IdentityFingerprint
	// holds are the active LegalHolds, read at the first Delete job of the
	// pass.
	holds legalhold.Set
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
	r.reconcileSubject(ctx, s)
	if err := r.reconcileSources(ctx, s); err != nil {
		return err
	}
	if err := r.reconcileJobs(ctx, s); err != nil {
		return err
	}
	// Records of sources that finished while others still work are noted
	// as stored now: a Restore waits for the ones not stored.
	r.reconcileReplayRecords(ctx, s)
	return r.reconcileFinish(ctx, s)
}

// reconcileDueDate records when the request is due, and whether it is
// near (DueSoon) or past (Overdue) that date unfinished. A receivedAt out
// of bounds makes the spec invalid: nothing is dispatched.
func (r *PrivacyRequestReconciler) reconcileDueDate(s *requestScope) {
	pr := s.pr
	if requestFinished(pr) && pr.Status.DueAt != nil {
		// The account of a finished request is closed: a deadline or
		// extension set afterwards does not make it look on time.
		return
	}
	created := pr.CreationTimestamp.Time
	if err := deadline.CheckReceived(pr.Spec, created); err != nil {
		s.invalidSpec = err
	}
	due := metav1.NewTime(deadline.DueAt(pr.Spec, created))
	pr.Status.DueAt = &due
	if requestFinished(pr) {
		return
	}
	s.overdue = !s.now.Before(due.Time)
	if s.overdue {
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionDueSoon)
		if conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue,
			privacyv1alpha1.ReasonDeadlineExceeded, "The request passed its due date "+due.UTC().Format(time.RFC3339)+" unfinished.") {
			s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonDeadlineExceeded, "Due date %s passed", due.UTC().Format(time.RFC3339))
		}
		return
	}
	conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionOverdue)
	s.wakeAt(due.Time)
	received := deadline.Received(pr.Spec, created)
	soon := received.Add(time.Duration(float64(due.Sub(received)) * r.Config.DueSoonShare))
	if r.Config.DueSoonShare >= 1 || s.now.Before(soon) {
		conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionDueSoon)
		if r.Config.DueSoonShare < 1 {
			s.wakeAt(soon)
		}
		return
	}
	s.dueSoon = true
	if conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionDueSoon, metav1.ConditionTrue,
		privacyv1alpha1.ReasonApproachingDueDate, "The request is due on "+due.UTC().Format(time.RFC3339)+" and unfinished.") {
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonApproachingDueDate, "Due on %s, unfinished", due.UTC().Format(time.RFC3339))
	}
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
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonResumed, "Dispatch resumed")
	}
	conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionSuspended)
}

// reconcileSources loads the DataSources and, once dispatch may start,
// fixes the targeted ones into status.sources so the account stays stable.
func (r *PrivacyRequestReconciler) reconcileSources(ctx context.Context, s *requestScope) error {
	pr := s.pr
	// The cached DataSources themselves, not copies (a pass reads every
	// one): nothing in a pass may change them.
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list DataSources: %w", err)
	}
	s.dataSources = make(map[types.NamespacedName]*privacyv1alpha1.DataSource, len(list.Items))
	for i := range list.Items {
		ds := &list.Items[i]
		s.dataSources[types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}] = ds
	}
	if len(pr.Status.Sources) > 0 || pr.Spec.Suspend || s.invalidSpec != nil {
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
	// No Event: startedAt and status.sources say it, and an Event per
	// request is a write per request; the request's end has one.
	started := metav1.NewTime(s.now)
	pr.Status.StartedAt = &started
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
		if !r.Policy.Allows(ds.Namespace, set) || !nsSel.Matches(set) {
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

// reconcileJobs runs the job ledger over the request's sources: it records
// what the dispatcher and the callbacks brought, then hands due deliveries
// and polls to the dispatcher (counted in status before anything is sent).
func (r *PrivacyRequestReconciler) reconcileJobs(ctx context.Context, s *requestScope) error {
	pr := s.pr
	j := &jobPass{
		Pass: s.pass, effects: &s.passEffects, dispatcher: r.Dispatcher, keys: r.Keys, dataSources: s.dataSources,
		tasks: &taskDesk{client: r.Client, reader: r.APIReader, owner: privacyv1alpha1.TaskRequestReference{
			Kind: KindPrivacyRequest, Name: pr.Name, UID: string(pr.UID),
		}},
		fileFinal: func(ctx context.Context, e *jobs.Entry, o dispatch.Outcome) (bool, error) {
			return r.fileAccessData(s, e, o)
		},
		buildJob: func(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (*protocol.Job, jobs.Change, bool) {
			return r.requestJob(ctx, s, e, ds)
		},
		ended: func(e *jobs.Entry) {
			r.observeJob(s, e)
			r.keepReplayRecord(ctx, s, e)
		},
	}
	if pr.Spec.Type == privacyv1alpha1.RequestTypeDelete {
		j.heldNow = func(ctx context.Context, _ *jobs.Entry, ds *privacyv1alpha1.DataSource) (string, string, error) {
			return r.deleteHeldNow(ctx, s, ds)
		}
	}
	if pr.Spec.Child {
		// The policy's promise: a child's data, once reported, is deleted.
		j.BarExemptions("a child's data is deleted whatever the exemption (spec.child); only a LegalHold can keep it.")
	}
	if err := j.recordOutcomes(ctx, pr.Status.Sources); err != nil {
		// Filing an Access answer's data failed (the export store is out
		// of reach): the answer stays with the dispatcher for the next
		// pass, and status says why as for the export itself.
		r.exportFailed(s, err)
		return err
	}
	j.advance(ctx, pr.Status.Sources, jobs.Facts{
		Deadline:         s.dueAt(),
		DeadlineMessage:  "The request's due date passed before the source finished.",
		CancelOnDeadline: true,
		OwnerSuspended:   pr.Spec.Suspend,
	})
	return nil
}

// exportFailed records why the Access export, or a source's part of it,
// could not be written; the step is retried with the controller's backoff.
func (r *PrivacyRequestReconciler) exportFailed(s *requestScope, err error) {
	s.exportErr = err
	if ready := conditions.Get(s.pr.Status.Conditions, privacyv1alpha1.ConditionReady); ready == nil || ready.Reason != privacyv1alpha1.ReasonExportFailed {
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonExportFailed, "Writing the Access export failed; retrying: %v", err)
	}
}

func (r *PrivacyRequestReconciler) observeJob(s *requestScope, e *jobs.Entry) {
	ns, name, phase, reqType := e.Namespace, e.Name, string(e.Phase), string(s.pr.Spec.Type)
	var took float64 = -1
	if st := s.pr.Status.StartedAt; st != nil {
		took = s.now.Sub(st.Time).Seconds()
	}
	s.after = append(s.after, func() {
		jobsTotal.WithLabelValues(ns, name, phase).Inc()
		if took >= 0 {
			jobDuration.WithLabelValues(reqType).Observe(took)
		}
	})
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
		if !jobs.Finished(src.Phase) {
			return nil
		}
		if src.Phase == privacyv1alpha1.SourcePhaseFailed {
			failed = append(failed, src.Namespace+"/"+src.Name)
		}
	}
	if pr.Spec.Type == privacyv1alpha1.RequestTypeAccess && r.Exports != nil {
		pending, err := r.writeExport(ctx, s)
		if err != nil {
			r.exportFailed(s, err)
			return err
		}
		if pending {
			// Assembled off the workers; its end wakes the request.
			return nil
		}
	}
	completed := metav1.NewTime(s.now)
	pr.Status.CompletedAt = &completed
	outcome := privacyv1alpha1.RequestPhaseCompleted
	if len(failed) > 0 {
		outcome = privacyv1alpha1.RequestPhaseFailed
		s.event(corev1.EventTypeWarning, privacyv1alpha1.ReasonFailed, "Request failed at %d of %d data sources: %s",
			len(failed), len(pr.Status.Sources), strings.Join(failed, ", "))
	} else if refused := countPhase(pr, privacyv1alpha1.SourcePhaseRefused); refused > 0 {
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonCompletedWithRefusals,
			"Request completed; %d of %d data sources refused it under an exemption (status names each basis)", refused, len(pr.Status.Sources))
	} else if held := countPhase(pr, privacyv1alpha1.SourcePhaseHeld); held > 0 {
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonCompletedWithHolds,
			"Request completed at %d of %d data sources; legal holds kept it from %d", len(pr.Status.Sources)-held, len(pr.Status.Sources), held)
	} else {
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonCompleted, "Request completed at all %d data sources", len(pr.Status.Sources))
	}
	reqType := string(pr.Spec.Type)
	s.after = append(s.after, func() { requestsTotal.WithLabelValues(reqType, string(outcome)).Inc() })
	s.overdue, s.dueSoon = false, false
	conditions.Remove(&pr.Status.Conditions, privacyv1alpha1.ConditionDueSoon)
	return r.reconcileFinished(ctx, s)
}

// reconcileFinished keeps the operator's own retention: the export expires
// after --export-ttl, the receipt is written, and the request is deleted
// after its TTL once status holds the receipt and its replay records are
// stored.
func (r *PrivacyRequestReconciler) reconcileFinished(ctx context.Context, s *requestScope) error {
	pr := s.pr
	if exp := pr.Status.Export; exp != nil && r.Exports != nil {
		if s.now.Before(exp.ExpiresAt.Time) {
			s.wakeAt(exp.ExpiresAt.Time)
		} else {
			uid := string(pr.UID)
			_, err, pending := r.desk.do(pr.Name, uid+"/delete", func(ctx context.Context) (export.Ref, error) {
				return export.Ref{}, r.Exports.Delete(ctx, uid)
			})
			if err != nil {
				return fmt.Errorf("delete expired export: %w", err)
			}
			if pending {
				return nil
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
	// The receipt is the record that outlives the request: TTL deletion
	// waits for it (the Notary wakes the request once it is written).
	recorded := r.reconcileReceipt(ctx, s)
	recorded = r.reconcileDeliveries(s) && recorded
	recorded = r.reconcileReplayRecords(ctx, s) && recorded
	if !keep && pr.Status.CompletedAt != nil {
		expiry := pr.Status.CompletedAt.Add(ttl)
		if s.now.Before(expiry) {
			s.wakeAt(expiry)
		} else {
			s.deleteNow = recorded
		}
	}
	return nil
}
