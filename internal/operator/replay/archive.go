package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// Store is where sealed records live: the receipt store (a directory or
// an S3 prefix), under receipt.ReplayDir.
type Store interface {
	receipt.Store
	receipt.DirLister
}

// Archive adds sealed records to the store, reads a source's records
// back in the order they finished, and erases old periods.
type Archive struct {
	Store Store
	Keys  *Keys
}

// Name is the object a record is stored as: its period, when it finished
// (Unix nanoseconds, so that names sort as the records finished), the
// source and the job. None of it is personal.
func Name(r Record) string {
	return fmt.Sprintf("%s%s/%020d-%s_%s_%s.sealed", receipt.ReplayDir, Period(r.FinishedAt), r.FinishedAt.UnixNano(), r.Namespace, r.Name, r.JobID)
}

// Add seals r under its period's key (made with the period's first
// record) and stores it. Adding the same record again is no error.
func (a *Archive) Add(ctx context.Context, r Record) (string, error) {
	name := Name(r)
	key, err := a.Keys.Key(ctx, Period(r.FinishedAt), true)
	if err != nil {
		return "", fmt.Errorf("the replay key of %s: %w", Period(r.FinishedAt), err)
	}
	sealed, err := Seal(key, name, r)
	if err != nil {
		return "", err
	}
	if err := a.Store.Create(ctx, name, sealed); err != nil && !errors.Is(err, receipt.ErrExists) {
		return "", err
	}
	return name, nil
}

// Since calls each with every record of the source namespace/name that
// finished after t, in the order they finished, one at a time (records
// are read and opened as they are listed, never all at once), passing
// over the records up to and including the one named after (a replay
// that goes on where it stopped; "" for all). A period since t whose key
// is erased fails with ErrErased: its records can no longer be replayed.
func (a *Archive) Since(ctx context.Context, namespace, name string, t time.Time, after string, each func(string, Record) error) error {
	var keyOf string
	var key []byte
	return a.names(ctx, namespace, name, t, after, func(period, n string) error {
		if keyOf != period {
			k, err := a.Keys.Key(ctx, period, false)
			if err != nil {
				return fmt.Errorf("the records of %s: %w", period, err)
			}
			keyOf, key = period, k
		}
		sealed, err := a.Store.Get(ctx, n)
		if err != nil {
			return err
		}
		r, err := Open(key, period, n, sealed)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		return each(n, r)
	})
}

// Names calls each with the name and original job id of every record
// Since would open, without opening any: what a Restore counts and lists.
func (a *Archive) Names(ctx context.Context, namespace, name string, t time.Time, each func(name, jobID string) error) error {
	source := namespace + "_" + name + "_"
	return a.names(ctx, namespace, name, t, "", func(_, n string) error {
		base := n[strings.LastIndex(n, "/")+1:]
		_, rest, _ := strings.Cut(base, "-")
		return each(n, strings.TrimSuffix(strings.TrimPrefix(rest, source), ".sealed"))
	})
}

// names lists the records of a source that finished after t and sort
// after after, in order, with their periods.
func (a *Archive) names(ctx context.Context, namespace, name string, t time.Time, after string, each func(period, name string) error) error {
	periods, err := a.periods(ctx)
	if err != nil {
		return err
	}
	source := "-" + namespace + "_" + name + "_"
	for _, period := range periods {
		start, _ := periodTime(period)
		if !start.Add(24 * time.Hour).After(t) {
			continue
		}
		dir := receipt.ReplayDir + period + "/"
		if after != "" && after >= dir+"~" {
			continue
		}
		mine, err := a.sourceNames(ctx, dir, source, t, after)
		if err != nil {
			return err
		}
		for _, n := range mine {
			if err := each(period, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Covers reports whether every record that finished after t can still
// be read: no period since t is erased. A Restore of a backup taken
// before that is refused.
func (a *Archive) Covers(ctx context.Context, t time.Time) (bool, error) {
	through, err := a.Keys.ErasedThrough(ctx)
	if err != nil {
		return false, err
	}
	return Covered(through, t), nil
}

// Covered reports whether no record that finished after t lies in a day
// erased through erasedThrough (Keys.ErasedThrough).
func Covered(erasedThrough string, t time.Time) bool {
	return erasedThrough == "" || Period(t) > erasedThrough
}

// Sweep erases every period that ended before cutoff: its key first
// (from then on its records are unreadable), then its records. It
// returns the periods erased, for the sweep's receipt.
func (a *Archive) Sweep(ctx context.Context, cutoff time.Time) ([]string, error) {
	erased, err := a.Keys.Erase(ctx, cutoff)
	if err != nil {
		return nil, err
	}
	periods, err := a.periods(ctx)
	if err != nil {
		return erased, err
	}
	for _, period := range periods {
		start, _ := periodTime(period)
		if start.Add(24 * time.Hour).After(cutoff) {
			continue
		}
		names, err := a.Store.ListDir(ctx, receipt.ReplayDir+period+"/", "")
		if err != nil {
			return erased, err
		}
		for _, n := range names {
			if err := a.Store.Delete(ctx, n); err != nil {
				return erased, err
			}
		}
	}
	return erased, nil
}

// sourceNames are the names in dir of the source's records that finished
// after t and sort after after. The day's listing (every source's records)
// is let go before they are handled: a Restore holds only its source's
// names while it replays.
func (a *Archive) sourceNames(ctx context.Context, dir, source string, t time.Time, after string) ([]string, error) {
	names, err := a.Store.ListDir(ctx, dir, after)
	if err != nil {
		return nil, err
	}
	var mine []string
	for _, n := range names {
		base := strings.TrimPrefix(n, dir)
		nanos, rest, ok := strings.Cut(base, "-")
		at, err := strconv.ParseInt(nanos, 10, 64)
		if !ok || err != nil || !strings.HasPrefix("-"+rest, source) || !time.Unix(0, at).After(t) || n <= after {
			continue
		}
		mine = append(mine, n)
	}
	return mine, nil
}

// periods are the periods that hold records, oldest first.
func (a *Archive) periods(ctx context.Context) ([]string, error) {
	names, err := a.Store.ListDir(ctx, receipt.ReplayDir, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		period, _, ok := strings.Cut(strings.TrimPrefix(n, receipt.ReplayDir), "/")
		if _, valid := periodTime(period); ok && valid && (len(out) == 0 || out[len(out)-1] != period) {
			out = append(out, period)
		}
	}
	return out, nil
}
