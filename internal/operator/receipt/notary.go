package receipt

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Notary writes receipts off the reconcile workers: reconcilers Submit a
// receipt and go on; the Notary, the log's only writer in this replica,
// writes them one at a time in submission order, retrying a failure with
// capped exponential backoff (a receipt is never dropped, and none is
// written past one that failed, so the log stays in order), and wakes the
// receipt's owner after each attempt so it can record the outcome. It also
// sweeps the log. It runs on the leader only (manager.Runnable with
// leader election).
//
// Its queue is in memory, so a receipt appended just before a crash or a
// leader change, whose owner had not yet recorded the reference, would be
// submitted and appended again by the next leader. To prevent that, the
// Notary indexes the log's last receipts by their owners' ids when it
// opens the log (and each receipt it appends): a Submit of an id found
// there, recording the same event, is answered with the receipt already
// written. Only receipts signed with the operator's keys are indexed: one
// planted in the store by someone without the signing key is never taken
// for a request's receipt (the genuine one is written after it).
//
// While the log cannot be written (the store refuses, the keys cannot be
// read), every waiting receipt's owner is told why, not only the one at
// the head of the queue.
type Notary struct {
	open func(ctx context.Context) (*Log, error)
	wake func(id string)
	opts NotaryOptions

	mu      sync.Mutex
	entries map[string]*entry
	queue   []string // ids of pending entries, oldest first
	written *tailIndex
	// failing is why the last attempt to open or write the log failed;
	// nil once a write succeeds. A receipt submitted meanwhile starts
	// with it as its lastErr.
	failing error
	kick    chan struct{}
}

// NotaryOptions tune a Notary; zero fields take the defaults.
type NotaryOptions struct {
	// MinBackoff and MaxBackoff bound the wait after a failed write or
	// open (default 1 s and 5 min), doubling from one to the other.
	MinBackoff, MaxBackoff time.Duration
	// Clock is the sweep's now (default time.Now).
	Clock func() time.Time
	// SweepInterval is how often the log is swept (default 1 h); the
	// first sweep runs once the log is open.
	SweepInterval time.Duration
	// Retention is how long receipts are kept; 0 turns the sweep off.
	Retention time.Duration
	// Log receives the Notary's messages (receipts hold no personal data;
	// neither do these).
	Log logr.Logger
	// OnWrite, if set, is told of each write attempt: the receipt's kind,
	// how long the attempt took and its error (metrics).
	OnWrite func(kind Kind, took time.Duration, err error)
	// OnSweep, if set, is told of each sweep: receipts removed, error.
	OnSweep func(removed int, err error)
	// OnPending, if set, is told the number of receipts waiting after
	// each change.
	OnPending func(n int)
	// OwnerID is the id a receipt's owner submits it under, computed from
	// the receipt (default: the package's OwnerID); "" for a receipt
	// without an owner. The log's tail is indexed by it.
	OwnerID func(*Receipt) string
	// TailIndex is how many of the log's last receipts are indexed by
	// owner (default 256): a receipt further back whose owner never
	// recorded its reference is written again.
	TailIndex int
}

// defaultTailIndex covers far more receipts than a leader can append
// between two status writes of their owners.
const defaultTailIndex = 256

// entry is one submitted receipt.
type entry struct {
	receipt *Receipt
	written bool
	ref     Ref
	lastErr error
}

// NewNotary returns a Notary that opens its log with open (retried until it
// succeeds) and calls wake with a receipt's id after each attempt to write
// it.
func NewNotary(open func(ctx context.Context) (*Log, error), wake func(id string), opts NotaryOptions) *Notary {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Minute, opts.MinBackoff)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Hour
	}
	if opts.OwnerID == nil {
		opts.OwnerID = OwnerID
	}
	if opts.TailIndex <= 0 {
		opts.TailIndex = defaultTailIndex
	}
	return &Notary{open: open, wake: wake, opts: opts, entries: map[string]*entry{}, written: newTailIndex(opts.TailIndex), kick: make(chan struct{}, 1)}
}

// Submit queues r under id (the owner's key: what OwnerID computes from
// r). It is idempotent: while id is pending or written, another Submit is
// ignored, so a reconciler may submit at every pass until Result says
// written. An id whose receipt is among the log's last receipts (see
// NotaryOptions.TailIndex) is written at once, with that receipt's Ref,
// and its owner is woken. The Notary owns r from then on; the caller must
// not change it. A receipt whose kind and body disagree is not queued:
// Result returns its error.
func (n *Notary) Submit(id string, r *Receipt) {
	n.mu.Lock()
	if _, ok := n.entries[id]; ok {
		n.mu.Unlock()
		return
	}
	if w, ok := n.written.refs[id]; ok && sameContent(w.receipt, r) {
		n.entries[id] = &entry{receipt: r, written: true, ref: w.ref}
		n.mu.Unlock()
		n.wake(id)
		return
	}
	if err := r.check(); err != nil {
		// It would fail at every attempt and hold up every receipt
		// after it: kept out of the queue, with the error for Result.
		n.entries[id] = &entry{receipt: r, lastErr: err}
		n.mu.Unlock()
		return
	}
	n.entries[id] = &entry{receipt: r, lastErr: n.failing}
	n.queue = append(n.queue, id)
	pending, failing := len(n.queue), n.failing != nil
	n.mu.Unlock()
	n.pending(pending)
	if failing {
		// It waits behind the failure from the start: its owner says why.
		n.wake(id)
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Known reports whether id was submitted and not forgotten (pending or
// written): its owner need not make the receipt again to Submit it.
func (n *Notary) Known(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.entries[id]
	return ok
}

// Result is what became of id's receipt: where it was written, or the last
// error while it waits; written is false for an unknown id too.
func (n *Notary) Result(id string) (ref Ref, lastErr error, written bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.entries[id]
	if !ok {
		return Ref{}, nil, false
	}
	return e.ref, e.lastErr, e.written
}

// Forget drops id: the owner calls it once it recorded the Ref (or the
// object is gone), since the Notary keeps written results until then. A
// pending receipt that is forgotten is not written.
func (n *Notary) Forget(id string) {
	n.mu.Lock()
	e, ok := n.entries[id]
	if ok {
		delete(n.entries, id)
	}
	if ok && !e.written {
		for i, q := range n.queue {
			if q == id {
				n.queue = append(n.queue[:i:i], n.queue[i+1:]...)
				break
			}
		}
	}
	pending := len(n.queue)
	n.mu.Unlock()
	if ok && !e.written {
		n.pending(pending)
	}
}

// Pending is the number of receipts waiting to be written.
func (n *Notary) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: the log
// has one writer, the leader.
func (n *Notary) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it opens the log, then writes and
// sweeps until ctx ends.
func (n *Notary) Start(ctx context.Context) error {
	log, ok := n.openLog(ctx)
	if !ok {
		return nil
	}
	sweep := time.NewTimer(0)
	defer sweep.Stop()
	retry := n.opts.MinBackoff
	// failed is the receipt whose write failed and is retried. A failed
	// write may have stored the receipt and lost only the answer; the
	// retry then adopts it, as long as the log has not moved on. A
	// sweep's own receipt would move it on, and the retry would append
	// the receipt a second time: no sweep runs while the queue's head is
	// the failed receipt, however long its backoff.
	failed := ""
	for {
		id, r, ok := n.next()
		if !ok || id != failed {
			select {
			case <-sweep.C:
				n.sweep(ctx, log, sweep)
			default:
			}
		}
		if ok {
			if n.write(ctx, log, id, r) {
				retry, failed = n.opts.MinBackoff, ""
				continue
			}
			failed = id
			if !n.sleep(ctx, retry) {
				return nil
			}
			retry = min(2*retry, n.opts.MaxBackoff)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.kick:
		case <-sweep.C:
			n.sweep(ctx, log, sweep)
		}
	}
}

// openLog opens the log and indexes its tail, retrying with backoff; the
// pending receipts' owners are told why nothing is written meanwhile.
// false: ctx ended.
func (n *Notary) openLog(ctx context.Context) (*Log, bool) {
	retry := n.opts.MinBackoff
	for {
		log, err := n.open(ctx)
		if err == nil {
			err = n.indexTail(ctx, log)
		}
		if err == nil {
			return log, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		n.opts.Log.Error(err, "cannot open the receipt log; receipts wait", "retryIn", retry.String())
		n.failAll(err)
		if !n.sleep(ctx, retry) {
			return nil, false
		}
		retry = min(2*retry, n.opts.MaxBackoff)
	}
}

// next is the oldest pending receipt.
func (n *Notary) next() (string, *Receipt, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return "", nil, false
	}
	id := n.queue[0]
	return id, n.entries[id].receipt, true
}

// write appends one receipt and records the outcome; true if written.
func (n *Notary) write(ctx context.Context, log *Log, id string, r *Receipt) bool {
	start := time.Now()
	ref, err := log.Append(ctx, r)
	if n.opts.OnWrite != nil {
		n.opts.OnWrite(r.Kind, time.Since(start), err)
	}
	if err != nil {
		n.opts.Log.Error(err, "cannot write a receipt; it waits", "id", id, "kind", r.Kind)
		// Every receipt behind this one waits for it too.
		n.failAll(err)
		return false
	}
	n.mu.Lock()
	n.failing = nil
	n.written.add(n.opts.OwnerID(r), ref, r)
	e, ok := n.entries[id]
	if ok {
		e.written, e.ref, e.lastErr = true, ref, nil
	}
	if len(n.queue) > 0 && n.queue[0] == id {
		n.queue = n.queue[1:]
	}
	// The receipts behind it are no longer held up by a failure.
	var cleared []string
	for _, q := range n.queue {
		if qe := n.entries[q]; qe.lastErr != nil {
			qe.lastErr = nil
			cleared = append(cleared, q)
		}
	}
	pending := len(n.queue)
	n.mu.Unlock()
	n.pending(pending)
	if ok {
		n.wake(id)
	}
	for _, q := range cleared {
		n.wake(q)
	}
	return true
}

// failAll records err on every pending receipt, and wakes the owners of
// those whose error changed: each says why it waits, and a retry that
// fails the same way writes no status.
func (n *Notary) failAll(err error) {
	n.mu.Lock()
	n.failing = err
	var changed []string
	for _, id := range n.queue {
		e := n.entries[id]
		if e.lastErr == nil || e.lastErr.Error() != err.Error() {
			changed = append(changed, id)
		}
		e.lastErr = err
	}
	n.mu.Unlock()
	for _, id := range changed {
		n.wake(id)
	}
}

// sweep runs the log's sweep, if there is a retention, and sets the timer
// for the next one.
func (n *Notary) sweep(ctx context.Context, log *Log, timer *time.Timer) {
	timer.Reset(n.opts.SweepInterval)
	if n.opts.Retention <= 0 {
		return
	}
	removed, err := log.Sweep(ctx, n.opts.Clock(), n.opts.Retention)
	if err != nil {
		n.opts.Log.Error(err, "receipt sweep failed; the next one retries", "removed", removed)
	} else if removed > 0 {
		n.opts.Log.Info("receipts past their retention removed", "removed", removed, "retention", n.opts.Retention.String())
	}
	if n.opts.OnSweep != nil {
		n.opts.OnSweep(removed, err)
	}
}

// sleep waits d. false: ctx ended.
func (n *Notary) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (n *Notary) pending(count int) {
	if n.opts.OnPending != nil {
		n.opts.OnPending(count)
	}
}
