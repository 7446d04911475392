package controllers

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// probeScheduler decides when a DataSource's endpoint is probed: on first
// sight, after a spec or Secret change, and periodically (jittered, and ten
// times as often while the endpoint fails). It is the reconciler's memory
// of the probes in flight; it holds no status.
type probeScheduler struct {
	// interval is the period of the probe of a Ready endpoint.
	interval time.Duration

	mu     sync.Mutex
	probes map[types.NamespacedName]probeRecord
}

// probeRecord is what the last probe of a DataSource was made against, so
// that a spec or Secret change, or the period, triggers the next one.
type probeRecord struct {
	generation int64
	secretRV   string
	at         time.Time // zero while the probe is in flight
	next       time.Time
}

// due reports whether a probe should start now, or else when the next one
// is due (zero while one is in flight).
func (p *probeScheduler) due(key types.NamespacedName, generation int64, secretRV string, now time.Time) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, ok := p.probes[key]
	switch {
	case !ok:
		return true, time.Time{}
	case rec.at.IsZero():
		return false, time.Time{} // in flight
	case rec.generation != generation || rec.secretRV != secretRV:
		return true, time.Time{}
	case now.Before(rec.next):
		return false, rec.next
	}
	return true, time.Time{}
}

// started records a probe handed to the dispatcher.
func (p *probeScheduler) started(key types.NamespacedName, generation int64, secretRV string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probes == nil {
		p.probes = map[types.NamespacedName]probeRecord{}
	}
	p.probes[key] = probeRecord{generation: generation, secretRV: secretRV}
}

// next is when the probe after one that finished at now is due.
func (p *probeScheduler) next(now time.Time, ready bool) time.Time {
	period := p.interval
	if !ready {
		// A failing endpoint is looked at again sooner.
		period /= 10
	}
	// Jitter spreads the probes of many DataSources over the period.
	return now.Add(period - time.Duration(rand.Int64N(int64(period)/10+1)))
}

// finished records a probe's outcome, recorded at at, and the next probe's time.
func (p *probeScheduler) finished(key types.NamespacedName, at, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probes == nil {
		p.probes = map[types.NamespacedName]probeRecord{}
	}
	rec := p.probes[key]
	rec.at, rec.next = at, next
	p.probes[key] = rec
}

func (p *probeScheduler) forget(key types.NamespacedName) {
	p.mu.Lock()
	delete(p.probes, key)
	p.mu.Unlock()
}

// activeJobsPacer bounds the writes of status.activeJobs to one per
// DataSource per second: under load every request's status write changes
// the count, and each write would wake the DataSource's watchers.
type activeJobsPacer struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// allow reports whether the count may be written at now, else when.
func (p *activeJobsPacer) allow(key types.NamespacedName, now time.Time) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if next := p.last[key].Add(activeJobsPeriod); now.Before(next) {
		return false, next
	}
	return true, time.Time{}
}

// wrote records a write of the count at now.
func (p *activeJobsPacer) wrote(key types.NamespacedName, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[types.NamespacedName]time.Time{}
	}
	p.last[key] = now
}

func (p *activeJobsPacer) forget(key types.NamespacedName) {
	p.mu.Lock()
	delete(p.last, key)
	p.mu.Unlock()
}

// activeJobsPeriod is the shortest time between two writes of one
// DataSource's activeJobs.
const activeJobsPeriod = time.Second
