// Package dispatch delivers privacy jobs to data sources off the reconcile
// path. Reconcilers record their intent in status first, then Submit work;
// the dispatcher runs the HTTP exchanges with bounded concurrency (per data
// source and overall), keeps each outcome until the reconciler has recorded
// it (Outcomes, then Ack), and wakes the owner up through Notify. It knows
// nothing about reconcilers or the API server.
package dispatch

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Options configure a Dispatcher.
type Options struct {
	// Exchanger runs the exchanges.
	Exchanger Exchanger
	// Notify is called after an outcome for owner was stored.
	Notify func(Owner)
	// MaxInFlight bounds the exchanges open at all sources together.
	MaxInFlight int
	// MaxPerSource bounds the exchanges open at one source, whatever its
	// maxConcurrency asks: a source that hangs every exchange holds at most
	// this share of MaxInFlight. Default MaxInFlight/4.
	MaxPerSource int
	// MaxProbes bounds the readiness probes open at once. Probes have their
	// own slots, so that jobs filling MaxInFlight never delay a probe (nor
	// probes a job). Default 8.
	MaxProbes int
	// Now tells the time.
	Now func() time.Time
}

// Dispatcher queues and runs work. Create it with New; it is safe for
// concurrent use.
type Dispatcher struct {
	opts   Options
	global chan struct{}
	probes chan struct{}

	mu       sync.Mutex
	ctx      context.Context
	inflight map[inflightKey]bool
	sources  map[types.NamespacedName]*sourceQueue
	outcomes map[Owner]map[string]Outcome
	jobs     map[string]Registration
	owned    map[Owner]map[string]struct{} // job ids in jobs, by owner
	wg       sync.WaitGroup
}

type inflightKey struct {
	jobID string
	op    Op
}

type sourceQueue struct {
	pending []Work
	active  int
}

// Registration tells the callback server whom a job id belongs to.
type Registration struct {
	Owner  Owner
	Source types.NamespacedName
	Keys   []protocol.Key
}

// New returns a Dispatcher. Work submitted before Start waits for it.
func New(opts Options) *Dispatcher {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.MaxPerSource <= 0 {
		opts.MaxPerSource = max(opts.MaxInFlight/4, 1)
	}
	if opts.MaxProbes <= 0 {
		opts.MaxProbes = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func(Owner) {}
	}
	return &Dispatcher{
		opts:     opts,
		global:   make(chan struct{}, opts.MaxInFlight),
		probes:   make(chan struct{}, opts.MaxProbes),
		inflight: map[inflightKey]bool{},
		sources:  map[types.NamespacedName]*sourceQueue{},
		outcomes: map[Owner]map[string]Outcome{},
		jobs:     map[string]Registration{},
		owned:    map[Owner]map[string]struct{}{},
	}
}

// Start runs queued work until ctx ends, then waits for open exchanges. It
// implements controller-runtime's manager.Runnable.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	for src := range d.sources {
		d.pumpLocked(src)
	}
	d.mu.Unlock()
	<-ctx.Done()
	d.wg.Wait()
	return nil
}

// Submit queues w unless the same operation on the same job is already
// queued or open; it reports whether it queued. It never blocks on I/O.
func (d *Dispatcher) Submit(w Work) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := inflightKey{w.JobID, w.Op}
	if d.inflight[key] {
		return false
	}
	d.inflight[key] = true
	if w.Op == OpDeliver || w.Op == OpPoll {
		d.registerLocked(w.JobID, Registration{Owner: w.Owner, Source: w.Target.Source, Keys: w.Target.Keys})
	}
	q := d.sources[w.Target.Source]
	if q == nil {
		q = &sourceQueue{}
		d.sources[w.Target.Source] = q
	}
	q.pending = append(q.pending, w)
	d.pumpLocked(w.Target.Source)
	return true
}

// Expect registers an accepted job of owner without sending anything, so
// that its callback is taken: after a restart or a failover the new
// leader's dispatcher knows none of the jobs its predecessor handed over.
// A job already registered keeps its registration.
func (d *Dispatcher) Expect(owner Owner, jobID string, target Target) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.jobs[jobID]; !ok {
		d.registerLocked(jobID, Registration{Owner: owner, Source: target.Source, Keys: target.Keys})
	}
}

// InFlight reports whether op on jobID is queued or open.
func (d *Dispatcher) InFlight(jobID string, op Op) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[inflightKey{jobID, op}]
}

// Pending reports whether op on jobID is queued or open, or has an outcome
// that owner has not acknowledged yet. Both are read under one lock, so an
// exchange that ends between two separate checks cannot look lost.
func (d *Dispatcher) Pending(owner Owner, jobID string, op Op) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[inflightKey{jobID, op}] {
		return true
	}
	_, ok := d.outcomes[owner][jobID]
	return ok
}

// Lookup returns whom a job id belongs to, for the callback server.
func (d *Dispatcher) Lookup(jobID string) (Registration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.jobs[jobID]
	return r, ok
}

// Forget drops everything kept for owner (it was deleted) except open
// exchanges, whose outcomes are dropped when they arrive.
func (d *Dispatcher) Forget(owner Owner) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.outcomes[owner] {
		dropData(o)
	}
	delete(d.outcomes, owner)
	for id := range d.owned[owner] {
		d.unregisterLocked(id)
	}
	d.shrinkLocked()
}

// Release drops what is kept for jobs of owner that ended (whatever ended
// them: an answer, exhausted retries, a deadline, a deleted DataSource):
// their registrations, so that a late callback is refused, and any outcome
// not acknowledged. Open exchanges of such jobs are dropped when they end.
func (d *Dispatcher) Release(owner Owner, jobIDs []string) {
	if len(jobIDs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range jobIDs {
		if r, ok := d.jobs[id]; ok && r.Owner == owner {
			d.unregisterLocked(id)
		}
		if o, ok := d.outcomes[owner][id]; ok {
			dropData(o)
			delete(d.outcomes[owner], id)
		}
	}
	if len(d.outcomes[owner]) == 0 {
		delete(d.outcomes, owner)
	}
	d.shrinkLocked()
}

// Entries reports how many jobs are registered and how many owners have
// outcomes waiting: what the dispatcher holds in memory.
func (d *Dispatcher) Entries() (jobs, owners int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.jobs), len(d.outcomes)
}

// registerLocked tells the callback server that jobID belongs to r.Owner.
func (d *Dispatcher) registerLocked(jobID string, r Registration) {
	if prev, ok := d.jobs[jobID]; ok && prev.Owner != r.Owner {
		d.unregisterLocked(jobID)
	}
	d.jobs[jobID] = r
	ids := d.owned[r.Owner]
	if ids == nil {
		ids = map[string]struct{}{}
		d.owned[r.Owner] = ids
	}
	ids[jobID] = struct{}{}
}

// unregisterLocked ends jobID's registration: a late callback is refused.
func (d *Dispatcher) unregisterLocked(jobID string) {
	r, ok := d.jobs[jobID]
	if !ok {
		return
	}
	delete(d.jobs, jobID)
	delete(d.owned[r.Owner], jobID)
	if len(d.owned[r.Owner]) == 0 {
		delete(d.owned, r.Owner)
	}
}

// shrinkLocked replaces the maps that have emptied. A Go map keeps the
// memory of its largest size after its entries are deleted; without this,
// the operator would hold the buckets of its busiest burst (about 10 MiB
// for 100,000 jobs) for as long as it runs.
func (d *Dispatcher) shrinkLocked() {
	if len(d.jobs) == 0 {
		d.jobs = map[string]Registration{}
		d.owned = map[Owner]map[string]struct{}{}
	}
	if len(d.inflight) == 0 {
		d.inflight = map[inflightKey]bool{}
	}
	if len(d.outcomes) == 0 {
		d.outcomes = map[Owner]map[string]Outcome{}
	}
}

// pumpLocked starts queued work of src up to its concurrency limit.
func (d *Dispatcher) pumpLocked(src types.NamespacedName) {
	if d.ctx == nil {
		return
	}
	q := d.sources[src]
	for len(q.pending) > 0 {
		limit := min(max(q.pending[0].Target.MaxConcurrency, 1), d.opts.MaxPerSource)
		if q.active >= limit {
			return
		}
		w := q.pending[0]
		q.pending = q.pending[1:]
		q.active++
		d.wg.Add(1)
		go d.run(w)
	}
	if q.active == 0 {
		delete(d.sources, src)
	}
}

func (d *Dispatcher) run(w Work) {
	defer d.wg.Done()
	var o Outcome
	slots := d.global
	if w.Op == OpProbe {
		slots = d.probes
	}
	select {
	case slots <- struct{}{}:
		o = d.opts.Exchanger.Exchange(d.ctx, w)
		<-slots
	case <-d.ctx.Done():
		o = Outcome{Result: ResultRetry, Message: "operator shutting down"}
	}
	o.JobID, o.Source, o.Op = w.JobID, w.Target.Source, w.Op
	if o.At.IsZero() {
		o.At = d.opts.Now()
	}

	d.mu.Lock()
	delete(d.inflight, inflightKey{w.JobID, w.Op})
	d.shrinkLocked()
	_, registered := d.jobs[w.JobID]
	keep := w.Op == OpProbe || (w.Op != OpCancel && registered)
	if keep {
		d.storeLocked(w.Owner, o)
	} else {
		dropData(o) // the job ended meanwhile: nobody will file its data
	}
	if q := d.sources[w.Target.Source]; q != nil {
		q.active--
		d.pumpLocked(w.Target.Source)
	}
	d.mu.Unlock()
	if keep {
		d.opts.Notify(w.Owner)
	}
}
