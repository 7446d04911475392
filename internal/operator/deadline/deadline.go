// Package deadline computes when a PrivacyRequest is due under its
// regulation.
package deadline

import (
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

const (
	day = 24 * time.Hour
	// CCPAPeriod is the response period of the CCPA: 45 calendar days.
	CCPAPeriod = 45 * day
	// DefaultPeriod is the response period for GDPR (at most) and Other: 30 days.
	DefaultPeriod = 30 * day
)

// DueAt returns when a request received at received is due, in UTC.
//
// An explicit spec.deadline wins. CCPA gives 45 days; Other gives 30 days.
// GDPR gives "one month" (Art. 12(3)); the operator takes the earlier of one
// calendar month and 30 days, so that the due date never falls after the
// legal one: a request of 31 January is due on 28 February, one of 1 March on
// 31 March. An extension adds its days to any of these.
func DueAt(spec privacyv1alpha1.PrivacyRequestSpec, received time.Time) time.Time {
	received = received.UTC()
	var due time.Time
	switch {
	case spec.Deadline != nil:
		due = spec.Deadline.UTC()
	case spec.Regulation == privacyv1alpha1.RegulationCCPA:
		due = received.Add(CCPAPeriod)
	case spec.Regulation == privacyv1alpha1.RegulationOther:
		due = received.Add(DefaultPeriod)
	default: // GDPR, the API's default
		due = earliest(addOneMonth(received), received.Add(DefaultPeriod))
	}
	if spec.Extension != nil {
		due = due.Add(time.Duration(spec.Extension.Days) * day)
	}
	return due
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// addOneMonth adds a calendar month, clamping to the last day of the target
// month instead of overflowing as time.AddDate does (31 Jan + 1 month would
// be 3 March there).
func addOneMonth(t time.Time) time.Time {
	firstOfNext := time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	lastDay := firstOfNext.AddDate(0, 1, -1).Day()
	day := min(t.Day(), lastDay)
	return time.Date(firstOfNext.Year(), firstOfNext.Month(), day, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
