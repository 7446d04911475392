// Package deadline computes when a PrivacyRequest is due under its
// regulation and type, from when it was received.
package deadline

import (
	"fmt"
	"strings"
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

const (
	day = 24 * time.Hour
	// CCPAPeriod is the response period of the CCPA: 45 calendar days.
	CCPAPeriod = 45 * day
	// DefaultPeriod is the response period for GDPR (at most) and Other: 30 days.
	DefaultPeriod = 30 * day
	// CCPAOptOutBusinessDays is the period for a CCPA opt-out of sale or
	// sharing: 15 business days (CCPA regulations, 11 CCR 7026(f)).
	CCPAOptOutBusinessDays = 15
	// ChildPeriod is the period for deleting a child's data once reported
	// (spec.child): the privacy policy's promise, under every regulation.
	ChildPeriod = 7 * day
)

// Rule is the response period a regulation sets for a request type: the
// one table the due dates come from (docs/deadlines.md shows it, and a
// test keeps the two the same).
type Rule struct {
	Regulation privacyv1alpha1.Regulation
	// Types the rule covers; empty: every type not named by another rule
	// of the regulation.
	Types []privacyv1alpha1.RequestType
	// Period says how long, in words.
	Period string
	// MaxExtensionDays is the longest extension the API admits (0: none,
	// negative: no limit).
	MaxExtensionDays int32
	// Basis is the legal text.
	Basis string
	due   func(received time.Time) time.Time
}

// childRule is the deadline of a Delete of a child's data (spec.child),
// whatever the regulation.
var childRule = Rule{Regulation: "any", Types: []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeDelete},
	Period: "7 days, a child's data (spec.child)", MaxExtensionDays: 0, Basis: "the privacy policy's promise",
	due: func(r time.Time) time.Time { return r.Add(ChildPeriod) }}

// Rules are the deadlines by regulation and type, most specific first.
var Rules = []Rule{
	{Regulation: privacyv1alpha1.RegulationGDPR, Period: "one month (the earlier of one calendar month and 30 days)",
		MaxExtensionDays: 60, Basis: "GDPR Art. 12(3)", due: gdprMonth},
	{Regulation: privacyv1alpha1.RegulationCCPA, Types: []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeOptOut},
		Period: "15 business days (Monday to Friday)", MaxExtensionDays: 0, Basis: "11 CCR 7026(f)",
		due: func(r time.Time) time.Time { return addBusinessDays(r, CCPAOptOutBusinessDays) }},
	{Regulation: privacyv1alpha1.RegulationCCPA, Period: "45 days", MaxExtensionDays: 45,
		Basis: "Cal. Civ. Code 1798.130(a)(2)", due: func(r time.Time) time.Time { return r.Add(CCPAPeriod) }},
	{Regulation: privacyv1alpha1.RegulationOther, Period: "30 days", MaxExtensionDays: -1,
		Basis: "none: spec.deadline sets another", due: func(r time.Time) time.Time { return r.Add(DefaultPeriod) }},
}

// RuleFor is the rule of a regulation and type.
func RuleFor(regulation privacyv1alpha1.Regulation, typ privacyv1alpha1.RequestType) Rule {
	if regulation == "" {
		regulation = privacyv1alpha1.RegulationGDPR
	}
	for _, r := range Rules {
		if r.Regulation != regulation {
			continue
		}
		if len(r.Types) == 0 {
			return r
		}
		for _, t := range r.Types {
			if t == typ {
				return r
			}
		}
	}
	return Rules[0]
}

// Received is when the request's clock starts: spec.receivedAt, else when
// the object was created.
func Received(spec privacyv1alpha1.PrivacyRequestSpec, created time.Time) time.Time {
	if spec.ReceivedAt != nil {
		return spec.ReceivedAt.UTC()
	}
	return created.UTC()
}

// DueAt returns when a request is due, in UTC: an explicit spec.deadline,
// else its rule's period from when it was received (spec.receivedAt, else
// its creation); an extension adds its days to either.
//
// GDPR gives "one month" (Art. 12(3)); the operator takes the earlier of
// one calendar month and 30 days, so that the due date never falls after
// the legal one: a request of 31 January is due on 28 February, one of 1
// March on 31 March.
func DueAt(spec privacyv1alpha1.PrivacyRequestSpec, created time.Time) time.Time {
	var due time.Time
	if spec.Deadline != nil {
		due = spec.Deadline.UTC()
	} else {
		rule := RuleFor(spec.Regulation, spec.Type)
		if spec.Child {
			rule = childRule
		}
		due = rule.due(Received(spec, created))
	}
	if spec.Extension != nil {
		due = due.Add(time.Duration(spec.Extension.Days) * day)
	}
	return due
}

// The bounds of spec.receivedAt against the object's creation: a request
// cannot arrive after it was recorded (beyond clock skew), and one received
// more than a year before is a typo or past every deadline.
const (
	ReceivedAtSkew   = 5 * time.Minute
	ReceivedAtMaxAge = 366 * day
)

// CheckReceived says why a spec.receivedAt is not acceptable for a request
// created at created; nil when it is (or is unset).
func CheckReceived(spec privacyv1alpha1.PrivacyRequestSpec, created time.Time) error {
	if spec.ReceivedAt == nil {
		return nil
	}
	r := spec.ReceivedAt.UTC()
	switch {
	case r.After(created.Add(ReceivedAtSkew)):
		return fmt.Errorf("spec.receivedAt %s is after the request was created (%s): a request is recorded when or after it arrives; create it again with the date it reached you",
			r.Format(time.RFC3339), created.UTC().Format(time.RFC3339))
	case r.Before(created.Add(-ReceivedAtMaxAge)):
		return fmt.Errorf("spec.receivedAt %s is more than 366 days before the request was created (%s): check the year; create it again with the date it reached you",
			r.Format(time.RFC3339), created.UTC().Format(time.RFC3339))
	}
	return nil
}

// Table is the child rule and Rules as the Markdown table
// docs/deadlines.md holds.
func Table() string {
	var b strings.Builder
	b.WriteString("| regulation | request types | due | longest extension | basis |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, r := range append([]Rule{childRule}, Rules...) {
		types := "all others"
		if len(r.Types) > 0 {
			var names []string
			for _, t := range r.Types {
				names = append(names, string(t))
			}
			types = strings.Join(names, ", ")
		} else if !namedElsewhere(r.Regulation) {
			types = "all"
		}
		ext := "none"
		switch {
		case r.MaxExtensionDays > 0:
			ext = fmt.Sprintf("%d days", r.MaxExtensionDays)
		case r.MaxExtensionDays < 0:
			ext = "no limit"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Regulation, types, r.Period, ext, r.Basis)
	}
	return b.String()
}

func namedElsewhere(reg privacyv1alpha1.Regulation) bool {
	for _, r := range Rules {
		if r.Regulation == reg && len(r.Types) > 0 {
			return true
		}
	}
	return false
}

// gdprMonth is the earlier of one calendar month and 30 days.
func gdprMonth(received time.Time) time.Time {
	a, b := addOneMonth(received), received.Add(DefaultPeriod)
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

// addBusinessDays moves n business days (Monday to Friday; public holidays
// are not known here) after t, at t's time of day. A request received on a
// weekend counts from the Monday after, as if it arrived then.
func addBusinessDays(t time.Time, n int) time.Time {
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
	}
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if t.Weekday() != time.Saturday && t.Weekday() != time.Sunday {
			n--
		}
	}
	return t
}
