package replay

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Recorder writes records to the Archive off the reconcile workers: a
// pass that sees a job finish hands its record over and goes on; the
// Recorder seals and stores it, trying again (1 s doubling to a minute)
// until the store takes it, in the order records were handed over. A
// record is held in memory only until it is stored. It runs on the
// leader, which is the only replica that sees jobs finish.
type Recorder struct {
	Archive *Archive
	Log     logr.Logger
	// Backoff is the first wait after a failed write (1 s when zero).
	Backoff time.Duration

	mu      sync.Mutex
	queue   []Record
	kick    chan struct{}
	stored  int
	lastErr error
}

// Record hands r over to be stored.
func (rc *Recorder) Record(r Record) {
	rc.mu.Lock()
	rc.queue = append(rc.queue, r)
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
		if len(rc.queue) > 0 {
			next = &rc.queue[0]
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
		rc.mu.Lock()
		rc.lastErr = err
		if err == nil {
			rc.queue[0] = Record{} // let go of the identities at once
			rc.queue = rc.queue[1:]
			rc.stored++
		}
		rc.mu.Unlock()
		if err == nil {
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
