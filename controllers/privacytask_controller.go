package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
)

// runRecordedWithin bounds how long a retention task may wait for its run
// to appear in the policy's cached history before it counts as orphaned.
const runRecordedWithin = 2 * time.Minute

// KindPrivacyTask names PrivacyTasks as pass owners.
const KindPrivacyTask = "PrivacyTask"

// DefaultTaskGrace is how long a PrivacyTask is kept after its request (or
// retention run) finished: the task holds the subject's identities, and
// the request's status and receipt keep its outcome.
const DefaultTaskGrace = 24 * time.Hour

// PrivacyTaskReconciler looks after the PrivacyTasks of manual sources
// once they exist: it keeps their Completed and Late conditions (with a
// reminder Event as a task grows late, and the privacyoperator_tasks_open
// gauge), and deletes a task whose request is gone, or finished more than
// Grace ago. It never writes a task's spec: the owner's job pass creates
// the task, a person sets its outcome, and the owner reads it.
type PrivacyTaskReconciler struct {
	Shared
	// Grace is how long a task outlives its finished request.
	Grace time.Duration

	open openTasks
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacytasks,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacytasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies,verbs=get;list;watch

// Reconcile brings one task's status up to date, or deletes it when its
// request no longer needs it.
func (r *PrivacyTaskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	task := &privacyv1alpha1.PrivacyTask{}
	if found, err := r.fetch(ctx, req.NamespacedName, task, func() { r.open.set(req.NamespacedName, "") }); !found {
		return ctrl.Result{}, err
	}
	if !task.DeletionTimestamp.IsZero() {
		r.open.set(req.NamespacedName, "")
		return ctrl.Result{}, nil
	}
	s := &taskScope{passEffects: r.newPass(taskOwnerKey(req.NamespacedName), task.Generation, 0), task: task, before: task.DeepCopy()}
	err := r.reconcileExpiry(ctx, s)
	if err != nil || s.deleteNow {
		return ctrl.Result{}, err
	}
	if s.heldBy, err = r.heldBy(ctx, task); err != nil {
		return ctrl.Result{}, err
	}
	r.computeStatus(s)
	key, state := req.NamespacedName, s.state
	s.after = append(s.after, func() { r.open.set(key, state) })
	return s.finish(ctx, &r.Shared, s.before, task, nil)
}

// taskScope carries one pass over a task.
type taskScope struct {
	passEffects
	task, before *privacyv1alpha1.PrivacyTask
	// state is the task's lateness for the gauge ("" once completed).
	state     string
	deleteNow bool
	// ownerDone: the request or run finished; an open task is moot.
	ownerDone bool
	// heldBy: a LegalHold stopped the task's job (its entry is Held); an
	// open task is moot.
	heldBy string
}

// reconcileExpiry deletes the task once its request is gone (deleted, or
// replaced by another of the same name) or finished more than Grace ago,
// and otherwise wakes at that time.
func (r *PrivacyTaskReconciler) reconcileExpiry(ctx context.Context, s *taskScope) error {
	finished, gone, err := r.ownerFinished(ctx, s.task)
	if err != nil {
		return err
	}
	if !gone && finished.IsZero() {
		return nil
	}
	if expiry := finished.Add(r.Grace); !gone && s.now.Before(expiry) {
		s.ownerDone = true
		s.wakeAt(expiry)
		return nil
	}
	// Names only: the task holds identities.
	log.FromContext(ctx).V(1).Info("delete PrivacyTask: its request is gone or finished past the grace period", "request", s.task.Spec.Request.Name)
	s.deleteNow = true
	r.open.set(client.ObjectKeyFromObject(s.task), "")
	return client.IgnoreNotFound(r.Delete(ctx, s.task, client.Preconditions{UID: &s.task.UID}))
}

// ownerFinished is when the task's request (or its retention run)
// finished: zero while it runs; gone when it no longer exists.
func (r *PrivacyTaskReconciler) ownerFinished(ctx context.Context, task *privacyv1alpha1.PrivacyTask) (finished time.Time, gone bool, err error) {
	ref := task.Spec.Request
	key := types.NamespacedName{Name: ref.Name}
	switch ref.Kind {
	case KindPrivacyRequest:
		pr := &privacyv1alpha1.PrivacyRequest{}
		if found, err := r.getCached(ctx, key, pr); !found || string(pr.UID) != ref.UID {
			return time.Time{}, err == nil, err
		}
		if pr.Status.CompletedAt != nil {
			return pr.Status.CompletedAt.Time, false, nil
		}
		return time.Time{}, false, nil
	case KindRetentionPolicy:
		rp := &privacyv1alpha1.RetentionPolicy{}
		if found, err := r.getCached(ctx, key, rp); !found || string(rp.UID) != ref.UID {
			return time.Time{}, err == nil, err
		}
		run, found := runOf(rp, task.Spec.JobID)
		if !found {
			// A run's tasks are created in the pass that starts the run,
			// before its status is stored: ask the API server, and give a
			// young task time, before taking it for an orphan.
			if err := r.APIReader.Get(ctx, key, rp); err != nil {
				return time.Time{}, false, client.IgnoreNotFound(err)
			}
			if run, found = runOf(rp, task.Spec.JobID); !found {
				// The API server's wall clock stamped the task: compare
				// like with like.
				young := time.Since(task.CreationTimestamp.Time) < runRecordedWithin
				return time.Time{}, !young, nil
			}
		}
		// A source ended by the run's deadline waits for the run.
		if run.CompletedAt != nil {
			return run.CompletedAt.Time, false, nil
		}
		return time.Time{}, false, nil
	}
	return time.Time{}, true, nil
}

// heldBy is the LegalHold that ended the task's job Held at its request
// or run ("" if none): a hold filed while the task was open.
func (r *PrivacyTaskReconciler) heldBy(ctx context.Context, task *privacyv1alpha1.PrivacyTask) (string, error) {
	ref := task.Spec.Request
	key := types.NamespacedName{Name: ref.Name}
	var entries []privacyv1alpha1.SourceStatus
	switch ref.Kind {
	case KindPrivacyRequest:
		pr := &privacyv1alpha1.PrivacyRequest{}
		if found, err := r.getCached(ctx, key, pr); !found || string(pr.UID) != ref.UID {
			return "", err
		}
		entries = pr.Status.Sources
	case KindRetentionPolicy:
		rp := &privacyv1alpha1.RetentionPolicy{}
		if found, err := r.getCached(ctx, key, rp); !found || string(rp.UID) != ref.UID {
			return "", err
		}
		if run, ok := runOf(rp, task.Spec.JobID); ok {
			entries = run.Sources
		}
	}
	for _, e := range entries {
		if e.JobID == task.Spec.JobID && e.Phase == privacyv1alpha1.SourcePhaseHeld {
			return e.Hold, nil
		}
	}
	return "", nil
}

// runOf is the run of rp with a source entry for jobID.
func runOf(rp *privacyv1alpha1.RetentionPolicy, jobID string) (*privacyv1alpha1.RetentionRun, bool) {
	for i := range rp.Status.History {
		for _, src := range rp.Status.History[i].Sources {
			if src.JobID == jobID {
				return &rp.Status.History[i], true
			}
		}
	}
	return nil, false
}

func (r *PrivacyTaskReconciler) getCached(ctx context.Context, key types.NamespacedName, obj client.Object) (bool, error) {
	err := r.Get(ctx, key, obj)
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}

func taskOwnerKey(key types.NamespacedName) dispatch.Owner {
	return dispatch.Owner{Kind: KindPrivacyTask, NamespacedName: key}
}

// SetupWithManager registers the reconciler.
func (r *PrivacyTaskReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	if r.Grace <= 0 {
		r.Grace = DefaultTaskGrace
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.PrivacyTask{}).
		// A request that finishes or goes starts its tasks' grace period.
		Watches(&privacyv1alpha1.PrivacyRequest{}, tasksOf(r.Client, KindPrivacyRequest), builder.WithPredicates(requestFinishedOrGone)).
		Watches(&privacyv1alpha1.RetentionPolicy{}, tasksOf(r.Client, KindRetentionPolicy), builder.WithPredicates(runFinishedOrGone)).
		Named("privacytask").
		Complete(r)
}
