package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
	"github.com/privacyoperator/privacy-operator/internal/operator/schedule"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// replayResult is what became of one replayed record.
type replayResult struct {
	jobID, original string
	// held names the LegalHold that kept a Delete from being sent.
	held string
	// failed is the source's answer to a job it did not do.
	failed string
}

// count adds r to the progress.
func (r replayResult) count(p *restoreProgress, maxFailures int) {
	switch {
	case r.held != "":
		p.counts.Held++
		if !slices.Contains(p.heldBy, r.held) && len(p.heldBy) < maxHeldBy {
			p.heldBy = append(p.heldBy, r.held)
		}
		return
	case r.failed != "":
		p.counts.Failed++
		if len(p.failures) < maxFailures {
			p.failures = append(p.failures, privacyv1alpha1.RestoreFailure{JobID: r.jobID, OriginalJobID: r.original, Message: truncate(r.failed, 1024)})
		}
	default:
		p.counts.Completed++
	}
	p.counts.Sent++
}

// maxHeldBy and maxPurges are status.heldBy's and status.purges' bounds.
const (
	maxHeldBy = 32
	maxPurges = 64
)

// replayOne sends rec again, unless a LegalHold active now covers a
// Delete of its subject at the source, and waits for the answer. A record
// kept for another DataSource of that name or another endpoint is not
// sent: its identities go only where the job went. An error (the holds or
// the signing key cannot be read) leaves the record for a retry.
func (rr *RestoreRunner) replayOne(ctx context.Context, run *restoreRun, ds *privacyv1alpha1.DataSource, rec replay.Record) (replayResult, error) {
	res := replayResult{jobID: replay.ReplayJobID(rec.JobID, string(run.uid)), original: rec.JobID}
	switch {
	case rec.SourceUID != "" && rec.SourceUID != string(ds.UID):
		res.failed = "Not sent: the job went to an earlier DataSource of this name (it was deleted and created again since)."
		return res, nil
	case rec.Endpoint != "" && rec.Endpoint != replay.EndpointOf(ds):
		res.failed = "Not sent: the DataSource's endpoint changed since the job was sent there; its identities go only where the job went."
		return res, nil
	}
	now := rr.Clock.Now()
	if rec.Type == privacyv1alpha1.RequestTypeDelete {
		hold, err := rr.deleteHold(ctx, ds, rec, now)
		if err != nil {
			return res, fmt.Errorf("check the legal holds: %w", err)
		}
		if hold != "" {
			res.held = hold
			return res, nil
		}
	}
	deadline := now.Add(24 * time.Hour)
	job := &protocol.Job{
		APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: res.jobID, Type: protocol.JobType(rec.Type),
		Request:  protocol.RequestRef{Kind: KindRestore, Name: run.key.Name, UID: string(run.uid)},
		Subject:  &protocol.Subject{Identities: rec.Identities},
		Deadline: &deadline,
	}
	for _, c := range rec.Corrections {
		job.Corrections = append(job.Corrections, protocol.Correction{Field: c.Field, Value: c.Value})
	}
	if rec.Type == privacyv1alpha1.RequestTypeOptOut {
		job.OptOut = &protocol.OptOut{Scopes: rec.Scopes}
	}
	st, msg, err := rr.send(ctx, run, ds, job)
	switch {
	case err != nil:
		return res, err
	case st == nil:
		res.failed = msg
	case st.Status == protocol.StatusFailed:
		res.failed = "The source failed the job: " + st.Message
	case st.Status == protocol.StatusRefused:
		res.failed = "The source refused the job under " + st.Exemption
	}
	return res, nil
}

// deleteHold is the active LegalHold that keeps a Delete of rec's subject
// from ds now, or "". Without fingerprints (no fingerprint key) a hold
// that names people holds every Delete it selects (fail closed), as for
// requests.
func (rr *RestoreRunner) deleteHold(ctx context.Context, ds *privacyv1alpha1.DataSource, rec replay.Record, now time.Time) (string, error) {
	holds, err := activeHolds(ctx, rr.Client, now)
	if err != nil || len(holds) == 0 {
		return "", err
	}
	set, err := namespaceLabels(ctx, rr.Client, map[string]labels.Set{}, ds.Namespace)
	if err != nil {
		return "", err
	}
	var fps []string
	for _, f := range rec.Fingerprints {
		fps = append(fps, f.Value)
	}
	known := rr.Receipts != nil && len(rr.Receipts.FingerprintKey) > 0 && len(fps) > 0 &&
		rec.FingerprintKeyID == receipt.FingerprintKeyID(rr.Receipts.FingerprintKey)
	if h := holds.ForDelete(ds, set, fps, known); h != nil {
		return h.Name, nil
	}
	return "", nil
}

// send delivers job to ds and waits for its final status: retried as the
// source's retry policy says, an accepted job followed by its callback or
// by polls. A nil status comes with the reason the source failed it; an
// error (the signing key cannot be read, ctx ended) leaves it for a retry.
func (rr *RestoreRunner) send(ctx context.Context, run *restoreRun, ds *privacyv1alpha1.DataSource, job *protocol.Job) (*protocol.JobStatus, string, error) {
	retry := jobs.RetryOf(ds)
	owner := dispatch.Owner{Kind: KindRestore, NamespacedName: run.key}
	for attempt := 1; ; attempt++ {
		target, err := rr.Keys.Target(ctx, ds, rr.Clock.Now())
		if err != nil {
			return nil, "", fmt.Errorf("the signing key of DataSource %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		// Registered first, so that a callback that comes before the
		// delivery's answer is taken.
		rr.Dispatcher.Expect(owner, job.ID, target)
		o := rr.Exchanger.Exchange(ctx, dispatch.Work{Owner: owner, Op: dispatch.OpDeliver, JobID: job.ID, Job: job, Target: target})
		switch o.Result {
		case dispatch.ResultFinal:
			rr.Dispatcher.Release(owner, []string{job.ID})
			return o.Status, "", nil
		case dispatch.ResultAccepted:
			return rr.await(ctx, owner, target, job.ID)
		case dispatch.ResultRetry:
			if int32(attempt) >= retry.MaxAttempts {
				rr.Dispatcher.Release(owner, []string{job.ID})
				return nil, fmt.Sprintf("Gave up after %d attempts: %s", attempt, o.Message), nil
			}
			wait := o.RetryAfter
			if wait <= 0 {
				wait = dispatch.Backoff(attempt, retry.Initial, retry.Max)
			}
			select {
			case <-ctx.Done():
				rr.Dispatcher.Release(owner, []string{job.ID})
				return nil, "", ctx.Err()
			case <-time.After(wait):
			}
		default:
			rr.Dispatcher.Release(owner, []string{job.ID})
			return nil, o.Message, nil
		}
	}
}

// await waits for an accepted job's final status: its callback (through
// the dispatcher) or, every poll interval, a poll.
func (rr *RestoreRunner) await(ctx context.Context, owner dispatch.Owner, target dispatch.Target, jobID string) (*protocol.JobStatus, string, error) {
	defer rr.Dispatcher.Release(owner, []string{jobID})
	poll := rr.PollInterval
	if poll <= 0 {
		poll = 30 * time.Second
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	next := time.Now().Add(poll)
	for {
		if o, ok := rr.Dispatcher.Outcomes(owner)[jobID]; ok {
			rr.Dispatcher.Ack(owner, map[string]dispatch.Outcome{jobID: o})
			if o.Result == dispatch.ResultFinal && o.Status != nil {
				return o.Status, "", nil
			}
		}
		if time.Now().After(next) {
			next = time.Now().Add(poll)
			o := rr.Exchanger.Exchange(ctx, dispatch.Work{Owner: owner, Op: dispatch.OpPoll, JobID: jobID, Target: target})
			switch o.Result {
			case dispatch.ResultFinal:
				return o.Status, "", nil
			case dispatch.ResultUnknown, dispatch.ResultPermanent:
				return nil, "The source lost the accepted job: " + o.Message, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-tick.C:
		}
	}
}

// purge runs, once, the purge of every RetentionPolicy that covers the
// source: what was purged since the backup came back with it. Categories
// an active LegalHold keeps are left out, as for scheduled runs.
func (rr *RestoreRunner) purge(ctx context.Context, run *restoreRun) error {
	run.mu.Lock()
	done := run.p.phase != privacyv1alpha1.RestorePhasePurging
	run.mu.Unlock()
	if done {
		return nil
	}
	ds, err := rr.waitForSource(ctx, run)
	if err != nil {
		return err
	}
	now := rr.Clock.Now()
	set, err := namespaceLabels(ctx, rr.Client, map[string]labels.Set{}, ds.Namespace)
	if err != nil {
		return err
	}
	holds, err := activeHolds(ctx, rr.Client, now)
	if err != nil {
		return err
	}
	policies := &privacyv1alpha1.RetentionPolicyList{}
	if err := rr.Client.List(ctx, policies); err != nil {
		return fmt.Errorf("list RetentionPolicies: %w", err)
	}
	var purges []privacyv1alpha1.RestorePurge
	for i := range policies.Items {
		rp := &policies.Items[i]
		cats, err := retention.Covered(rp, ds, set)
		if err != nil || len(cats) == 0 || rp.Spec.Suspend {
			continue
		}
		retainFor, err := schedule.ParsePeriod(string(rp.Spec.RetainFor))
		if err != nil {
			continue
		}
		out := privacyv1alpha1.RestorePurge{Policy: rp.Name}
		keep, held, by := holds.Purge(ds, set, cats)
		if len(held) > 0 {
			out.Hold = by[0]
		}
		if len(keep) == 0 {
			out.Outcome = string(receipt.OutcomeHeld)
			if len(purges) < maxPurges {
				purges = append(purges, out)
			}
			continue
		}
		categories := make([]string, 0, len(keep))
		for _, c := range keep {
			categories = append(categories, string(c))
		}
		deadline := now.Add(24 * time.Hour)
		job := &protocol.Job{
			APIVersion: protocol.APIVersion, Kind: protocol.KindJob, Type: protocol.JobPurge,
			ID:       replay.ReplayJobID("purge/"+string(rp.UID), string(run.uid)),
			Request:  protocol.RequestRef{Kind: KindRestore, Name: run.key.Name, UID: string(run.uid)},
			Purge:    &protocol.Purge{Categories: categories, Before: now.Add(-retainFor).UTC(), Action: protocol.PurgeAction(rp.Spec.Action)},
			Deadline: &deadline,
		}
		st, msg, err := rr.send(ctx, run, ds, job)
		switch {
		case err != nil:
			return err
		case st == nil:
			out.Outcome, out.Message = string(receipt.OutcomeFailed), truncate(msg, 1024)
		case st.Status == protocol.StatusFailed || st.Status == protocol.StatusRefused:
			out.Outcome, out.Message = string(receipt.OutcomeFailed), truncate(st.Message, 1024)
		default:
			out.Outcome = string(st.Status)
			if st.Result != nil {
				n := st.Result.Records
				out.Records = &n
			}
		}
		if len(purges) < maxPurges {
			purges = append(purges, out)
		}
	}
	slices.SortFunc(purges, func(a, b privacyv1alpha1.RestorePurge) int { return strings.Compare(a.Policy, b.Policy) })
	rr.update(run, true, func(p *restoreProgress) {
		p.purges = purges
		p.phase = privacyv1alpha1.RestorePhaseCompleted
	})
	return nil
}
