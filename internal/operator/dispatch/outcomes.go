package dispatch

import "os"

// The outcome store: each job's latest outcome, kept per owner until the
// owner has recorded it (Outcomes, then Ack).

// Record stores an outcome that arrived another way (a callback) and
// notifies its owner. It reports false, and keeps nothing, when the job is
// no longer registered to owner (it ended, or owner was deleted, while the
// callback was read).
func (d *Dispatcher) Record(owner Owner, o Outcome) bool {
	d.mu.Lock()
	if r, ok := d.jobs[o.JobID]; !ok || r.Owner != owner {
		d.mu.Unlock()
		dropData(o)
		return false
	}
	d.storeLocked(owner, o)
	d.mu.Unlock()
	d.opts.Notify(owner)
	return true
}

// Outcomes returns the outcomes stored for owner, one per job id (the latest).
func (d *Dispatcher) Outcomes(owner Owner) map[string]Outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]Outcome, len(d.outcomes[owner]))
	for id, o := range d.outcomes[owner] {
		out[id] = o
	}
	return out
}

// Ack drops outcomes that the owner has recorded. An outcome that arrived
// after the given one is kept. A final outcome also ends the job's
// registration.
func (d *Dispatcher) Ack(owner Owner, recorded map[string]Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, o := range recorded {
		if cur, ok := d.outcomes[owner][id]; ok && cur.At.Equal(o.At) && cur.Op == o.Op {
			delete(d.outcomes[owner], id)
			// Filed in the export by the reconciler, or not wanted (the
			// source had already finished).
			dropData(cur)
		}
		if o.Result == ResultFinal || o.Result == ResultPermanent {
			d.unregisterLocked(id)
		}
	}
	if len(d.outcomes[owner]) == 0 {
		delete(d.outcomes, owner)
	}
	d.shrinkLocked()
}

// storeLocked keeps o as the job's latest outcome. A final outcome is never
// replaced by one that is not (a poll answering Running after the final
// callback arrived): the job is over.
func (d *Dispatcher) storeLocked(owner Owner, o Outcome) {
	m := d.outcomes[owner]
	if m == nil {
		m = map[string]Outcome{}
		d.outcomes[owner] = m
	}
	if cur, ok := m[o.JobID]; ok {
		// A final answer is kept against anything but another final
		// answer; a refusal (Permanent) against anything not final.
		if cur.Result == ResultFinal && o.Result != ResultFinal || cur.final() && !o.final() {
			dropData(o)
			return
		}
		if cur.DataFile != o.DataFile {
			dropData(cur)
		}
	}
	m[o.JobID] = o
}

// final reports an outcome that ends the job at the source.
func (o Outcome) final() bool {
	return o.Result == ResultFinal || o.Result == ResultPermanent
}

// dropData removes the spooled data of an outcome that will never be
// recorded. A file the reconciler already filed is gone: nothing happens.
func dropData(o Outcome) {
	if o.DataFile != "" {
		_ = os.Remove(o.DataFile)
	}
}
