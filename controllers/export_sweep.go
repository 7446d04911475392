package controllers

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// ExportSweeper removes what the export store holds for requests that
// no longer exist (deleted while the operator was down, or with their
// finalizer removed by hand): personal data must not outlive its request
// because a cleanup was missed. (Each replica's spool is swept by the
// SpoolSweeper.)
type ExportSweeper struct {
	// Reader lists PrivacyRequests (the manager's cache).
	Reader client.Reader
	Store  export.Swept
	// Interval between sweeps; default one hour.
	Interval time.Duration
	Log      logr.Logger
}

// Start sweeps at once, then every Interval, until ctx ends. It implements
// manager.Runnable.
func (s *ExportSweeper) Start(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = time.Hour
	}
	sweepEvery(ctx, s.Interval, s.Log, "export sweep", s.Sweep)
	return nil
}

// sweepEvery runs sweep at once, then every interval, until ctx ends,
// logging a failure (the next interval tries again).
func sweepEvery(ctx context.Context, interval time.Duration, log logr.Logger, what string, sweep func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := sweep(ctx); err != nil {
			log.Error(err, what+" failed; trying again at the next interval")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// NeedLeaderElection keeps the sweep on the leader, which owns the exports.
func (s *ExportSweeper) NeedLeaderElection() bool { return true }

// Sweep runs one sweep. The store is listed before the requests, so that a
// request created meanwhile (whose data cannot be in the first list) is
// never taken for an orphan. The store lists only names shaped like a
// request's UID and removes a folder only when all of it is its own
// (export.Swept), so that nothing else in the directory or bucket prefix
// is ever deleted.
func (s *ExportSweeper) Sweep(ctx context.Context) error {
	uids, err := s.Store.Requests(ctx)
	if err != nil {
		return err
	}
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := s.Reader.List(ctx, list); err != nil {
		return err
	}
	live := make(map[string]bool, len(list.Items))
	for _, pr := range list.Items {
		live[string(pr.UID)] = true
	}
	for _, uid := range uids {
		if live[uid] {
			continue
		}
		// Only what the store wrote itself: a folder of another program,
		// or of another install sharing the prefix, stays.
		deleted, err := s.Store.DeleteOrphan(ctx, uid)
		if err != nil {
			return err
		}
		if deleted {
			s.Log.Info("removed the export of a request that no longer exists", "uid", uid)
		} else {
			s.Log.Info("kept a folder named like a request that no longer exists: it holds what this operator did not write", "uid", uid)
		}
	}
	return nil
}
