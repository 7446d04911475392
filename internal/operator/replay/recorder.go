package replay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Recorder writes records to the Archive off the reconcile workers: a
// pass that sees a job finish hands its record over and goes on; the
// Recorder seals and stores it, trying again (1 s doubling to a minute)
// until the store takes it, in the order records were handed over, and
// tells the owner (done), which notes it in its status. A record is held
// in memory only until it is stored; one lost with the process is handed
// over again by its owner, which finds it neither waiting nor stored
// (State). It runs on the leader, which is the only replica that sees
// jobs finish.
type Recorder struct {
	Archive *Archive
	Log     logr.Logger
	// Backoff is the first wait after a failed write (1 s when zero).
	Backoff time.Duration

	mu      sync.Mutex
	queue   []queued
	kick    chan struct{}
	lastErr error
	// queuedJobs are the job ids in queue; storedJobs, those stored in
	// the last storedKeep (the owner records that in its status), with
	// when.
	queuedJobs map[string]bool
	storedJobs map[string]time.Time
	swept      time.Time
}

type queued struct {
	r    Record
	done func()
}

// storedKeep bounds how long a stored record's job id is remembered: far
// longer than its owner takes to record it (it is woken at once).
const storedKeep = 10 * time.Minute

// maxQueued bounds the records waiting while the store refuses them; past
// it, owners hand theirs over later (Full), so memory stays bounded.
const maxQueued = 20000

// Full reports whether the queue is at its bound.
func (rc *Recorder) Full() bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.queue) >= maxQueued
}

// Record hands r over to be stored; done (if not nil) is called once it is.
func (rc *Recorder) Record(r Record, done func()) {
	rc.mu.Lock()
	rc.queue = append(rc.queue, queued{r: r, done: done})
	if rc.queuedJobs == nil {
		rc.queuedJobs = map[string]bool{}
	}
	rc.queuedJobs[r.JobID] = true
	if rc.kick == nil {
		rc.kick = make(chan struct{}, 1)
	}
	kick := rc.kick
	rc.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
}

// State says whether the record of job is waiting to be stored, or was
// stored in the last storedKeep. Neither: it was never handed over to
// this Recorder (or this replica restarted since), and must be again.
func (rc *Recorder) State(job string) (waiting, stored bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, stored = rc.storedJobs[job]
	return rc.queuedJobs[job], stored
}

// Pending is the number of records not stored yet, and the last error of
// the store (nil once a write succeeded).
func (rc *Recorder) Pending() (int, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.queue), rc.lastErr
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (rc *Recorder) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it stores records until ctx ends.
func (rc *Recorder) Start(ctx context.Context) error {
	rc.mu.Lock()
	if rc.kick == nil {
		rc.kick = make(chan struct{}, 1)
	}
	kick := rc.kick
	rc.mu.Unlock()
	first := rc.Backoff
	if first <= 0 {
		first = time.Second
	}
	backoff := first
	for {
		rc.mu.Lock()
		var next *Record
		var done func()
		if len(rc.queue) > 0 {
			next, done = &rc.queue[0].r, rc.queue[0].done
		}
		rc.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
				continue
			}
		}
		_, err := rc.Archive.Add(ctx, *next)
		job := next.JobID
		if errors.Is(err, ErrErased) {
			// Its day is erased: no backup can need it any more. It counts
			// as kept, so that its owner goes on.
			rc.Log.Info("a replay record's day is already erased: not kept", "source", next.Namespace+"/"+next.Name, "job", job, "period", Period(next.FinishedAt))
			err = nil
		}
		rc.mu.Lock()
		rc.lastErr = err
		if err == nil {
			rc.queue[0] = queued{} // let go of the identities at once
			rc.queue = rc.queue[1:]
			delete(rc.queuedJobs, job)
			rc.remember(job, time.Now())
		}
		rc.mu.Unlock()
		if err == nil {
			if done != nil {
				done()
			}
			backoff = first
			continue
		}
		// The source, job and period name the record; never its content.
		rc.Log.Error(err, "cannot store a replay record; trying again", "source", next.Namespace+"/"+next.Name, "job", next.JobID, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// remember notes job as stored, dropping (at most every storedKeep) the
// ids older than storedKeep; the map is rebuilt so that the memory of a
// burst goes too.
func (rc *Recorder) remember(job string, now time.Time) {
	if rc.storedJobs == nil || now.Sub(rc.swept) > storedKeep {
		kept := map[string]time.Time{}
		for id, at := range rc.storedJobs {
			if now.Sub(at) <= storedKeep {
				kept[id] = at
			}
		}
		rc.storedJobs, rc.swept = kept, now
	}
	rc.storedJobs[job] = now
}
