package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// A Restore starts once the replay records of every job that finished at
// its source since the backup are stored: one still being written (the
// Recorder works in the background; after a restart it is made again)
// would otherwise be missed.

// unstoredRecord is a job at the source, finished after the backup, whose
// replay record is not stored yet.
type unstoredRecord struct{ jobID, request string }

// settle waits, up to SettleWait, until every replay record of a job that
// finished at the source after the backup is stored (the Recorder writes
// them in the background; after a restart they are made again): one still
// being written would be missed. It returns those still not stored then.
func (rr *RestoreRunner) settle(ctx context.Context, run *restoreRun) ([]unstoredRecord, error) {
	wait := rr.SettleWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	deadline := time.Now().Add(wait)
	for {
		missing, err := rr.unstored(ctx, run)
		if err != nil || len(missing) == 0 || time.Now().After(deadline) {
			return missing, err
		}
		rr.update(run, false, func(p *restoreProgress) {
			p.waiting = fmt.Sprintf("Waiting until the replay records of %d jobs since the backup are stored.", len(missing))
		})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// unstored lists, from the cached requests, the jobs at the source that
// finished after the backup and whose replay records are not stored.
func (rr *RestoreRunner) unstored(ctx context.Context, run *restoreRun) ([]unstoredRecord, error) {
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := rr.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PrivacyRequests: %w", err)
	}
	var out []unstoredRecord
	for i := range list.Items {
		for _, e := range list.Items[i].Status.Sources {
			if e.Namespace == run.source.Namespace && e.Name == run.source.Name && e.Replay != nil && !e.Replay.Stored && e.Replay.FinishedAt.After(run.since) {
				out = append(out, unstoredRecord{jobID: e.JobID, request: list.Items[i].Name})
			}
		}
	}
	return out, nil
}
