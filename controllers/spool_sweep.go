package controllers

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
)

// SpoolSweeper removes the Access answers in this replica's spool that will
// never be filed: an answer whose job was answered again (a leader change
// while the first answer was in transit, a re-delivery) and filed from the
// second, and the answers of requests that finished or were deleted. Such a
// file holds a person's data and is not touched by a later Delete, so it
// must go as soon as its job is settled, not after SweepSpool's day. It
// runs on every replica: each keeps its own spool, and a replica that led
// before holds answers its successor never saw.
type SpoolSweeper struct {
	// Reader lists PrivacyRequests (the manager's cache).
	Reader client.Reader
	Store  export.Swept
	// Interval between sweeps; default one minute.
	Interval time.Duration
	// Grace is how old a file must be before it is taken for stale;
	// default one minute (an answer can arrive before its request's
	// latest status reaches this replica's cache).
	Grace time.Duration
	// MaxAge is how old any spooled file may get; default 24 h.
	MaxAge time.Duration
	Log    logr.Logger
}

// Start sweeps at once, then every Interval, until ctx ends
// (manager.Runnable).
func (s *SpoolSweeper) Start(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = time.Minute
	}
	sweepEvery(ctx, s.Interval, s.Log, "spool sweep", s.Sweep)
	return nil
}

// NeedLeaderElection: every replica sweeps its own spool.
func (s *SpoolSweeper) NeedLeaderElection() bool { return false }

// Sweep runs one sweep: every spooled answer whose job is not an open
// Access job of an unfinished request goes.
func (s *SpoolSweeper) Sweep(ctx context.Context) error {
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := s.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	open := map[string]bool{}
	for i := range list.Items {
		pr := &list.Items[i]
		if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess || pr.Status.CompletedAt != nil || !pr.DeletionTimestamp.IsZero() {
			continue
		}
		for _, e := range pr.Status.Sources {
			if !jobs.Finished(e.Phase) {
				open[e.JobID] = true
			}
		}
	}
	grace := s.Grace
	if grace <= 0 {
		grace = time.Minute
	}
	// Wall time, not the operator's clock: it is compared with the files'
	// modification times.
	n, err := s.Store.DropSpool(func(job string) bool { return open[job] }, time.Now().Add(-grace))
	if n > 0 {
		s.Log.Info("removed spooled Access answers that will never be filed (answered again, or their request finished or went)", "files", n)
	}
	if err != nil {
		return err
	}
	// What no job names (an earlier version's files) goes after a day.
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	if n, err = s.Store.SweepSpool(time.Now().Add(-maxAge)); n > 0 {
		s.Log.Info("removed spooled Access data that was never filed", "files", n)
	}
	return err
}
