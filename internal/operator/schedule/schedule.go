// Package schedule parses RetentionPolicy schedules and retention periods.
package schedule

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts the standard 5-field format and descriptors such as @daily;
// it is the same dialect as batch/v1 CronJob.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a 5-field cron expression in the given IANA time zone (empty
// means UTC).
func Parse(expr, timeZone string) (cron.Schedule, error) {
	loc := time.UTC
	if timeZone != "" {
		var err error
		if loc, err = time.LoadLocation(timeZone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", timeZone, err)
		}
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", expr, err)
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
	}
	return sched, nil
}

var periodPattern = regexp.MustCompile(`^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

// maxPeriod bounds a retention period well inside time.Duration's range
// (about 292 years): 100 years is beyond any retention rule.
const maxPeriod = 100 * 365 * 24 * time.Hour

// ParsePeriod parses a retention period such as 35d, 400d, 12h or 1d12h
// (days are 24 hours).
func ParsePeriod(s string) (time.Duration, error) {
	m := periodPattern.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("retention period %q is not of the form 35d, 12h or 1d12h", s)
	}
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total time.Duration
	for i, unit := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || time.Duration(n) > maxPeriod/unit {
			return 0, fmt.Errorf("retention period %q is too long", s)
		}
		total += time.Duration(n) * unit
		if total > maxPeriod {
			return 0, fmt.Errorf("retention period %q is too long", s)
		}
	}
	if total <= 0 {
		return 0, errors.New("retention period must be greater than zero")
	}
	return total, nil
}

// maxMissedSlots bounds the walk over missed slots (a policy every minute
// that was down for a week has about 10 000 of them).
const maxMissedSlots = 100000

// LatestSlot returns the latest slot of sched after after and at or before
// now: the one slot to run when several were missed (like a CronJob's
// startingDeadline, without the storm). ok is false when none is due.
func LatestSlot(sched cron.Schedule, after, now time.Time) (slot time.Time, ok bool) {
	t := after
	for range maxMissedSlots {
		next := sched.Next(t)
		if next.IsZero() || next.After(now) {
			return slot, ok
		}
		slot, ok, t = next, true, next
	}
	return slot, ok
}
