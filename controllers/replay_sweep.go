package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// ReplaySweeper erases the replay records no backup can need any more:
// the days (periods) that ended before the oldest backup any source may
// still restore (now minus the longest spec.backups.retainFor). A period's
// key goes first, so that every copy of its records, in backups of the
// store too, can no longer be opened (crypto-erasure); then its records.
// Each sweep that erased something writes a receipt naming the periods.
// It runs on the leader.
type ReplaySweeper struct {
	// Reader lists DataSources (the manager's cache).
	Reader   client.Reader
	Archive  *replay.Archive
	Receipts *Receipts
	Clock    clock.PassiveClock
	// Interval between sweeps; default one hour.
	Interval time.Duration
	Log      logr.Logger

	// submitted are receipt ids handed to the Notary and not yet seen written.
	submitted []string
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *ReplaySweeper) NeedLeaderElection() bool { return true }

// Start sweeps at once, then every Interval, until ctx ends.
func (s *ReplaySweeper) Start(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = time.Hour
	}
	sweepEvery(ctx, s.Interval, s.Log, "replay record sweep", func(ctx context.Context) error {
		_, err := s.Sweep(ctx)
		return err
	})
	return nil
}

// Sweep runs one sweep and returns the periods it erased.
func (s *ReplaySweeper) Sweep(ctx context.Context) ([]string, error) {
	s.settle()
	list := &privacyv1alpha1.DataSourceList{}
	if err := s.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list DataSources: %w", err)
	}
	var windows []time.Duration
	for i := range list.Items {
		if w := list.Items[i].Spec.Backups.Window(); w > 0 {
			windows = append(windows, w)
		}
	}
	cutoff := replay.Cutoff(s.Clock.Now(), windows)
	erased, err := s.Archive.Sweep(ctx, cutoff)
	if len(erased) > 0 {
		// Periods, never content: nothing personal is in a period's name.
		s.Log.Info("erased replay records", "periods", erased, "cutoff", cutoff.UTC().Format(time.RFC3339))
		if s.Receipts != nil {
			id := receipt.ErasureOwnerID(erased[len(erased)-1])
			s.Receipts.Notary.Submit(id, &receipt.Receipt{Kind: receipt.KindReplayErasure,
				Erasure: &receipt.ReplayErasure{Periods: erased, Cutoff: cutoff.UTC()}})
			s.submitted = append(s.submitted, id)
		}
	}
	return erased, err
}

// settle lets the Notary drop the erasure receipts it wrote.
func (s *ReplaySweeper) settle() {
	kept := s.submitted[:0]
	for _, id := range s.submitted {
		if _, _, written := s.Receipts.Notary.Result(id); written {
			s.Receipts.Notary.Forget(id)
			continue
		}
		kept = append(kept, id)
	}
	s.submitted = kept
}
