package kubectlprivacy

import (
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// paint colours a word by what it means; plain when colour is off.
type paint func(word string) string

// ANSI SGR colours.
const (
	red     = "31"
	green   = "32"
	yellow  = "33"
	magenta = "35"
	faint   = "2"
)

// phaseColors colour request and source phases: green done, red failed,
// yellow waiting or under way, magenta held.
var phaseColors = map[string]string{
	"Completed":  green, // a request or a source
	"NotFound":   green,
	"Failed":     red,
	"Pending":    yellow,
	"Dispatched": yellow,
	"InProgress": yellow,
	"Held":       magenta,
	"Refused":    magenta,
	"Cancelled":  faint,
}

func painter(on bool) paint {
	if !on {
		return func(w string) string { return w }
	}
	return func(w string) string {
		return sgr(phaseColors[w], w)
	}
}

// sgr wraps text in an ANSI colour; no colour: the text as it is.
func sgr(colour, text string) string {
	if colour == "" {
		return text
	}
	return "\x1b[" + colour + "m" + text + "\x1b[0m"
}

// writeTree writes the request and its sources as a tree. Nothing of
// spec.subject is shown.
func writeTree(w io.Writer, pr *privacyv1alpha1.PrivacyRequest, now time.Time, p paint) {
	st := pr.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = "Unknown"
	}
	if pr.Spec.Suspend {
		phase += " (suspended: waiting for approval)"
	}
	regulation := string(pr.Spec.Regulation)
	if regulation == "" {
		regulation = string(privacyv1alpha1.RegulationGDPR)
	}
	child := ""
	if pr.Spec.Child {
		child = " (a child's data: due within 7 days)"
	}
	fmt.Fprintf(w, "privacyrequest/%s  %s %s%s\n", pr.Name, pr.Spec.Type, regulation, child)
	rows := append(approvable(pr), [][2]string{
		{"version", pr.ResourceVersion + " (kubectl privacy approve --resource-version approves exactly this)"},
	}...)
	rows = append(rows, [][2]string{
		{"phase", phase},
		{"due", due(st, now)},
		{"progress", orDash(st.Progress)},
		{"search", search(st)},
		{"requester", orDash(pr.Spec.Requester)},
		{"approval", approval(pr.Spec.Approval)},
		{"heldBy", orDash(strings.Join(st.HeldBy, ", "))},
		{"receipt", receiptLine(st.Receipt)},
	}...)
	if st.Export != nil {
		rows = append(rows, [2]string{"export", fmt.Sprintf("%s (%d bytes; kubectl privacy export %s -o FILE)", st.Export.Location, st.Export.Bytes, pr.Name)})
	}
	for _, r := range rows {
		v := printable(r[1])
		if r[0] == "phase" {
			// Painted after printable, which would turn the colour's
			// escape into text.
			v = p(string(st.Phase)) + strings.TrimPrefix(v, string(st.Phase))
		}
		fmt.Fprintf(w, "├── %-10s %s\n", r[0]+":", v)
	}
	if len(st.Sources) == 0 {
		fmt.Fprintln(w, "└── sources:   none yet")
		return
	}
	fmt.Fprintf(w, "└── sources:   %d\n", len(st.Sources))
	for i, s := range st.Sources {
		branch, stem := "├──", "│  "
		if i == len(st.Sources)-1 {
			branch, stem = "└──", "   "
		}
		sp := string(s.Phase)
		if sp == "" {
			sp = "Unknown"
		}
		fmt.Fprintf(w, "    %s %s/%s  %s\n", branch, s.Namespace, s.Name, p(sp))
		var lines []string
		lines = append(lines, fmt.Sprintf("attempts: %d", s.Attempts))
		if s.NextAttemptAt != nil {
			lines = append(lines, "next attempt: "+at(s.NextAttemptAt.Time, now))
		}
		if reason := sourceReason(s); reason != "" {
			lines = append(lines, "reason: "+reason)
		}
		if s.Hold != "" {
			lines = append(lines, "hold: "+s.Hold)
		}
		if s.Exemption != "" {
			lines = append(lines, "exemption: "+printable(s.Exemption))
		}
		if s.Records != nil {
			lines = append(lines, fmt.Sprintf("records: %d", *s.Records))
		}
		if len(s.MissingIdentities) > 0 {
			lines = append(lines, "searched without: "+strings.Join(s.MissingIdentities, ", ")+" (declared by the source, not in the request)")
		}
		if s.Message != "" {
			lines = append(lines, "message: "+printable(s.Message))
		}
		for _, l := range lines {
			fmt.Fprintf(w, "    %s    %s\n", stem, l)
		}
	}
}

// sourceReason is the reason of the entry's Completed condition (why it
// failed), else of its Dispatched condition (what it waits for).
func sourceReason(s privacyv1alpha1.SourceStatus) string {
	for _, t := range []string{"Completed", "Dispatched"} {
		if c := meta.FindStatusCondition(s.Conditions, t); c != nil && c.Reason != "" {
			return c.Reason
		}
	}
	return ""
}

// search says whether every source was searched with every identity type
// it declares.
func search(st privacyv1alpha1.PrivacyRequestStatus) string {
	partial := 0
	for _, s := range st.Sources {
		if len(s.MissingIdentities) > 0 {
			partial++
		}
	}
	switch {
	case len(st.Sources) == 0:
		return "-"
	case partial == 0:
		return "complete: every source had every identity type it declares"
	default:
		return fmt.Sprintf("partial: %d of %d sources searched without an identity type they declare", partial, len(st.Sources))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func approval(a *privacyv1alpha1.Approval) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("approved by %s at %s: %s", a.Approver, a.ApprovedAt.UTC().Format(time.RFC3339), a.Reason)
}

func receiptLine(r *privacyv1alpha1.ReceiptReference) string {
	if r == nil {
		return "- (not stored yet)"
	}
	return fmt.Sprintf("%s (sequence %d)", r.Location, r.Sequence)
}

// due is the due date and how far it is from now; a finished request
// says when it finished instead.
func due(st privacyv1alpha1.PrivacyRequestStatus, now time.Time) string {
	if st.DueAt == nil {
		return "-"
	}
	date := st.DueAt.UTC().Format(time.RFC3339)
	if st.CompletedAt != nil {
		return fmt.Sprintf("%s (finished %s)", date, st.CompletedAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s (%s)", date, dueIn(st.DueAt.Time, now))
}

// dueIn is "due in N days" or "overdue by N days", whole days.
func dueIn(dueAt, now time.Time) string {
	d := dueAt.Sub(now)
	if d >= 0 {
		return "due in " + days(d)
	}
	return "overdue by " + days(-d)
}

func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	switch n {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// at is a time with how far it is from now.
func at(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	rel := "in " + d.String()
	if d < 0 {
		rel = (-d).String() + " ago"
	}
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), rel)
}
