package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// RestoreRunner carries out Restores off the reconcile workers: for each,
// it streams the source's replay records since the backup from the store
// (one at a time, never all at once), sends each again as a new job and
// waits for its answer before the next (a Correct after a Delete must not
// bring a row back), then runs the source's retention purges once and
// finds the original receipts. The Restore reconciler reads its progress
// and is the only writer of the Restore's status; the runner keeps
// nothing that status does not: a run taken over after a restart goes on
// after status.cursor, and replayed jobs keep their ids, so a job sent
// twice is done once. It runs on the leader.
type RestoreRunner struct {
	// Client reads DataSources, LegalHolds, RetentionPolicies and
	// Namespaces from the cache.
	Client     client.Reader
	Archive    *replay.Archive
	Exchanger  dispatch.Exchanger
	Dispatcher *dispatch.Dispatcher
	Keys       *KeyRing
	// Receipts gives the fingerprint key (holds) and Store the receipt log
	// (the original receipts' sequences); either may be nil.
	Receipts *Receipts
	Store    receipt.Store
	Clock    clock.PassiveClock
	// Wake wakes the Restore's reconciler (its progress changed).
	Wake func(types.NamespacedName)
	// PollInterval is how often an accepted job is polled when its
	// callback does not come (default 30 s); Backoff the first wait after
	// a store error (default 1 s).
	PollInterval, Backoff time.Duration
	// SettleWait bounds how long a Restore waits for replay records still
	// being stored before it starts (default 5 min).
	SettleWait time.Duration
	Log        logr.Logger

	mu   sync.Mutex
	ctx  context.Context
	runs map[types.UID]*restoreRun
}

// restoreRun is one Restore under way.
type restoreRun struct {
	key    types.NamespacedName
	uid    types.UID
	source types.NamespacedName
	since  time.Time
	cancel context.CancelFunc

	mu sync.Mutex
	p  restoreProgress
	// woke is when the reconciler was last woken: progress wakes it at
	// most every wakeEvery.
	woke time.Time
}

// restoreProgress is what a run has done: the reconciler copies it into
// status.
type restoreProgress struct {
	phase    privacyv1alpha1.RestorePhase
	counts   privacyv1alpha1.RestoreCounts
	cursor   string
	failures []privacyv1alpha1.RestoreFailure
	heldBy   []string
	purges   []privacyv1alpha1.RestorePurge
	// waiting says why the run waits (a suspended source, a store error).
	waiting string
	// erased: a record since the backup can no longer be opened; gone:
	// the DataSource was deleted while the Restore ran.
	erased, gone bool
	// queued names the Restore of the same source that runs first.
	queued string
	// replayed are the original jobs, for the receipt, once done.
	replayed []receipt.ReplayedJob
	done     bool
}

const (
	maxRestoreFailures = 20
	wakeEvery          = time.Second
)

// errSourceGone: the DataSource was deleted while its Restore ran.
var errSourceGone = errors.New("the DataSource was deleted")

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (rr *RestoreRunner) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: runs live until ctx ends.
func (rr *RestoreRunner) Start(ctx context.Context) error {
	rr.mu.Lock()
	rr.ctx = ctx
	rr.mu.Unlock()
	<-ctx.Done()
	return nil
}

// progress returns a copy of the progress of rs's run, starting the run
// (from rs's status) when there is none. ok is false before the runner
// started.
func (rr *RestoreRunner) progress(rs *privacyv1alpha1.Restore) (restoreProgress, bool) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.ctx == nil {
		return restoreProgress{}, false
	}
	run := rr.runs[rs.UID]
	if run == nil {
		key := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}
		source := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.DataSource}
		for uid, other := range rr.runs {
			switch {
			case other.key == key:
				// A Restore deleted and created again under its name.
				other.cancel()
				delete(rr.runs, uid)
			case other.source == source && !other.finished():
				// One Restore at a time per source: two interleaved would
				// break the original order.
				return restoreProgress{phase: rs.Status.Phase, counts: rs.Status.Counts, cursor: rs.Status.Cursor,
					failures: rs.Status.Failures, heldBy: rs.Status.HeldBy, purges: rs.Status.Purges, queued: other.key.Name}, true
			}
		}
		if rr.runs == nil {
			rr.runs = map[types.UID]*restoreRun{}
		}
		run = &restoreRun{
			key: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}, uid: rs.UID,
			source: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.DataSource}, since: rs.Spec.BackupTakenAt.Time,
			p: restoreProgress{phase: privacyv1alpha1.RestorePhaseReplaying, counts: rs.Status.Counts, cursor: rs.Status.Cursor,
				failures: rs.Status.Failures, heldBy: rs.Status.HeldBy},
		}
		switch rs.Status.Phase {
		case privacyv1alpha1.RestorePhasePurging, privacyv1alpha1.RestorePhaseCompleted, privacyv1alpha1.RestorePhaseFailed:
			// Taken over past the replay: what is left is done again.
			run.p.phase = rs.Status.Phase
			run.p.purges = rs.Status.Purges
		}
		rr.runs[rs.UID] = run
		ctx, cancel := context.WithCancel(rr.ctx)
		run.cancel = cancel
		go rr.run(ctx, run)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	p := run.p
	p.failures = append([]privacyv1alpha1.RestoreFailure(nil), p.failures...)
	p.heldBy = append([]string(nil), p.heldBy...)
	p.purges = append([]privacyv1alpha1.RestorePurge(nil), p.purges...)
	return p, true
}

// finished reports whether the run is done.
func (run *restoreRun) finished() bool {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.p.done
}

// stop ends and drops the runs of the Restore key (deleted, or its end
// and receipt recorded).
func (rr *RestoreRunner) stop(key types.NamespacedName) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for uid, run := range rr.runs {
		if run.key == key {
			run.cancel()
			delete(rr.runs, uid)
		}
	}
}

// update changes the run's progress and wakes the reconciler, at most
// every wakeEvery unless now says so.
func (rr *RestoreRunner) update(run *restoreRun, now bool, fn func(p *restoreProgress)) {
	run.mu.Lock()
	fn(&run.p)
	wake := now || time.Since(run.woke) >= wakeEvery
	if wake {
		run.woke = time.Now()
	}
	run.mu.Unlock()
	if wake && rr.Wake != nil {
		rr.Wake(run.key)
	}
}

// run replays, purges and collects, each step retried after a store error
// until ctx ends.
func (rr *RestoreRunner) run(ctx context.Context, run *restoreRun) {
	// Each job's dispatcher registration is released where it ends
	// (send, await): a run stopped for a Restore created again under the
	// same name leaves the new run's alone.
	for _, step := range []func(context.Context, *restoreRun) error{rr.count, rr.replay, rr.purge, rr.collect} {
		backoff := max(rr.Backoff, time.Second)
		for {
			err := step(ctx, run)
			if err == nil || ctx.Err() != nil {
				break
			}
			switch {
			case errors.Is(err, replay.ErrErased):
				rr.update(run, true, func(p *restoreProgress) { p.erased, p.done = true, true })
				return
			case errors.Is(err, errSourceGone):
				rr.update(run, true, func(p *restoreProgress) { p.gone, p.done = true, true })
				return
			}
			rr.Log.Error(err, "restore: a step failed; trying again", "restore", run.key.String(), "retryIn", backoff)
			rr.update(run, true, func(p *restoreProgress) { p.waiting = truncate(err.Error(), 512) })
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
		if ctx.Err() != nil {
			return
		}
		rr.update(run, false, func(p *restoreProgress) { p.waiting = "" })
	}
	rr.update(run, true, func(p *restoreProgress) { p.done = true })
}

// count finds how many records there are to replay (once per Restore),
// once those of jobs that finished since the backup are all stored.
func (rr *RestoreRunner) count(ctx context.Context, run *restoreRun) error {
	run.mu.Lock()
	counted := run.p.counts.ToReplay > 0 || run.p.cursor != "" || run.p.phase != privacyv1alpha1.RestorePhaseReplaying
	run.mu.Unlock()
	if counted {
		return nil
	}
	missing, err := rr.settle(ctx, run)
	if err != nil {
		return err
	}
	n := int32(0)
	if err := rr.Archive.Names(ctx, run.source.Namespace, run.source.Name, run.since, func(string, string) error { n++; return nil }); err != nil {
		return err
	}
	rr.update(run, true, func(p *restoreProgress) {
		p.counts.ToReplay = n + int32(len(missing))
		// Counted as failed, not sent: nothing can be sent without the record.
		for _, m := range missing {
			p.counts.Failed++
			if len(p.failures) < maxRestoreFailures {
				p.failures = append(p.failures, privacyv1alpha1.RestoreFailure{JobID: m.jobID, OriginalJobID: m.jobID,
					Message: "The replay record of this job (request " + m.request + ") is not stored (its subject could not be read): it is not sent again; file a new request for the person"})
			}
		}
	})
	return nil
}

// replay sends every record after the cursor, in order.
func (rr *RestoreRunner) replay(ctx context.Context, run *restoreRun) error {
	run.mu.Lock()
	cursor, phase := run.p.cursor, run.p.phase
	run.mu.Unlock()
	if phase != privacyv1alpha1.RestorePhaseReplaying {
		return nil
	}
	err := rr.Archive.Since(ctx, run.source.Namespace, run.source.Name, run.since, cursor, func(name string, rec replay.Record) error {
		ds, err := rr.waitForSource(ctx, run)
		if err != nil {
			return err
		}
		res, err := rr.replayOne(ctx, run, ds, rec)
		if err != nil {
			return err
		}
		rr.update(run, false, func(p *restoreProgress) {
			p.cursor = name
			res.count(p, maxRestoreFailures)
		})
		return nil
	})
	if err != nil {
		return err
	}
	rr.update(run, true, func(p *restoreProgress) { p.phase = privacyv1alpha1.RestorePhasePurging })
	return nil
}

// waitForSource reads the source from the cache, waiting while it is
// suspended (its jobs wait as a request's do) or gone.
func (rr *RestoreRunner) waitForSource(ctx context.Context, run *restoreRun) (*privacyv1alpha1.DataSource, error) {
	for {
		ds := &privacyv1alpha1.DataSource{}
		err := rr.Client.Get(ctx, run.source, ds)
		why := ""
		switch {
		case apierrors.IsNotFound(err):
			return nil, errSourceGone
		case err != nil:
			why = fmt.Sprintf("Waiting for DataSource %s: %v", run.source, err)
		case ds.Spec.Suspend:
			why = fmt.Sprintf("Waiting: DataSource %s is suspended (spec.suspend).", run.source)
		default:
			rr.update(run, false, func(p *restoreProgress) { p.waiting = "" })
			return ds, nil
		}
		rr.update(run, false, func(p *restoreProgress) { p.waiting = why })
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// collect lists the original jobs the replay handled (sent or held), with
// their receipts' sequences, for the Restore's receipt.
func (rr *RestoreRunner) collect(ctx context.Context, run *restoreRun) error {
	run.mu.Lock()
	cursor := run.p.cursor
	run.mu.Unlock()
	var replayed []receipt.ReplayedJob
	want := map[string]bool{}
	if err := rr.Archive.Names(ctx, run.source.Namespace, run.source.Name, run.since, func(name, jobID string) error {
		if name > cursor {
			// Stored after the replay passed (a job that finished since).
			return nil
		}
		replayed = append(replayed, receipt.ReplayedJob{JobID: jobID})
		want[jobID] = true
		return nil
	}); err != nil {
		return err
	}
	if rr.Store != nil && len(want) > 0 {
		seqs, err := receipt.JobSequences(ctx, rr.Store, want)
		if err != nil {
			return err
		}
		for i := range replayed {
			replayed[i].Sequence = seqs[replayed[i].JobID]
		}
	}
	rr.update(run, false, func(p *restoreProgress) { p.replayed = replayed })
	return nil
}
