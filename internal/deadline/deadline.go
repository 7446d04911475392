// Package deadline computes when a PrivacyRequest is due under its
// regulation.
package deadline

import (
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// CCPAPeriod is the response period of the CCPA: 45 calendar days.
const CCPAPeriod = 45 * 24 * time.Hour

// DueAt returns when a request received at received is due.
//
// An explicit spec.deadline wins. Otherwise GDPR (and Other) gives one
// calendar month (Art. 12(3)): the same day of the next month, or the
// month's last day when it has no such day (31 January -> 28/29 February);
// CCPA gives 45 days. An extension adds its days to either.
func DueAt(spec privacyv1alpha1.PrivacyRequestSpec, received time.Time) time.Time {
	var due time.Time
	switch {
	case spec.Deadline != nil:
		due = spec.Deadline.Time
	case spec.Regulation == privacyv1alpha1.RegulationCCPA:
		due = received.Add(CCPAPeriod)
	default:
		due = addOneMonth(received)
	}
	if spec.Extension != nil {
		due = due.AddDate(0, 0, int(spec.Extension.Days))
	}
	return due.UTC()
}

// addOneMonth adds a calendar month, clamping to the last day of the target
// month instead of overflowing as time.AddDate does (31 Jan + 1 month would
// be 3 March there).
func addOneMonth(t time.Time) time.Time {
	t = t.UTC()
	firstOfNext := time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	lastDay := firstOfNext.AddDate(0, 1, -1).Day()
	day := min(t.Day(), lastDay)
	return time.Date(firstOfNext.Year(), firstOfNext.Month(), day, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
