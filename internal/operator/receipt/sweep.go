package receipt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sweep removes the receipts recorded before now-retention, keeping the log
// contiguous: it takes the oldest receipts up to the first younger one,
// never the newest (its hash is the chain's anchor). Before removing any,
// it appends a Sweep receipt naming the last one removed and its hash, so
// the chain can still be checked from the first receipt left. Removal goes
// oldest first, so a sweep cut short leaves a log that verifies, and the
// next sweep finishes the job (with a Sweep receipt of its own).
//
// An unreadable receipt ends the run before it, and is reported: it stays
// until a person looks at it.
func (l *Log) Sweep(ctx context.Context, now time.Time, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("receipt retention %s: want a positive duration", retention)
	}
	names, err := l.store.List(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("sweep receipts: %w", err)
	}
	names = receiptNames(names)
	if len(names) < 2 {
		return 0, nil
	}
	cutoff := now.Add(-retention).UTC()
	run, last, stopped := l.expired(ctx, names[:len(names)-1], cutoff)
	if run == 0 {
		return 0, stopped
	}
	if _, err := l.Append(ctx, &Receipt{Kind: KindSweep, Sweep: &Sweep{
		RemovedThrough: last.Sequence, RemovedThroughHash: last.SHA256, OlderThan: cutoff, Retention: retention.String(),
	}}); err != nil {
		return 0, fmt.Errorf("sweep receipts: %w", err)
	}
	removed := 0
	for _, name := range names[:run] {
		if err := l.store.Delete(ctx, name); err != nil {
			return removed, fmt.Errorf("sweep receipts: %w", err)
		}
		removed++
	}
	return removed, stopped
}

// expired counts the oldest of names recorded before cutoff, and returns
// the last of them. stopped says why the run ended early, if it did for
// anything but a younger receipt.
func (l *Log) expired(ctx context.Context, names []string, cutoff time.Time) (n int, last Ref, stopped error) {
	for _, name := range names {
		data, err := l.store.Get(ctx, name)
		if err != nil {
			return n, last, fmt.Errorf("sweep receipts: read %s: %w", l.store.Location(name), err)
		}
		_, r, err := Decode(data)
		if err != nil {
			return n, last, fmt.Errorf("sweep receipts: %s is unreadable, the sweep stops before it: %w", l.store.Location(name), err)
		}
		if !r.RecordedAt.Before(cutoff) {
			return n, last, nil
		}
		seq, _ := ParseName(name)
		if r.Sequence != seq {
			return n, last, errors.New("sweep receipts: " + l.store.Location(name) + " holds another sequence, the sweep stops before it")
		}
		last = Ref{Name: name, Location: l.store.Location(name), SHA256: Hash(data), Sequence: seq}
		n++
	}
	return n, last, nil
}
