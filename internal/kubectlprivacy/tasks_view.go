package kubectlprivacy

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// How kubectl privacy tasks shows tasks: each one's state and colour, the
// table of tasks, and one task's job for its worker.

// moot says whether the task can no longer be completed: its request (or
// retention run) finished without it, or a LegalHold now covers its job.
func moot(t *privacyv1alpha1.PrivacyTask) bool {
	c := meta.FindStatusCondition(t.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
	return t.Spec.Outcome == nil && c != nil && (c.Reason == privacyv1alpha1.ReasonRequestFinished || c.Reason == privacyv1alpha1.ReasonLegalHold)
}

// heldBy is the LegalHold that made an open task moot ("" if none), as
// the task's Completed condition names it.
func heldBy(t *privacyv1alpha1.PrivacyTask) string {
	c := meta.FindStatusCondition(t.Status.Conditions, privacyv1alpha1.TaskConditionCompleted)
	if t.Spec.Outcome != nil || c == nil || c.Reason != privacyv1alpha1.ReasonLegalHold {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(c.Message, "LegalHold "), " ")
	return name
}

// isOpen says whether the task waits for a person.
func isOpen(t *privacyv1alpha1.PrivacyTask) bool { return t.Spec.Outcome == nil && !moot(t) }

// taskState is what a task waits for, and its colour: Open; the Late
// reason (PastHalfSLA and PastSLA in yellow, PastDueDate in red);
// RequestFinished (moot, faint); or, once completed, "Completed" or
// "Completed (RESULT)" (green when the job was done or nothing was found,
// red when it failed or was refused).
func taskState(t *privacyv1alpha1.PrivacyTask) (string, string) {
	if o := t.Spec.Outcome; o != nil {
		colour := green
		if o.Result == privacyv1alpha1.TaskResultFailed || o.Result == privacyv1alpha1.TaskResultRefused {
			colour = red
		}
		if o.Result == privacyv1alpha1.TaskResultCompleted {
			return "Completed", colour
		}
		return "Completed (" + printable(string(o.Result)) + ")", colour
	}
	if heldBy(t) != "" {
		return privacyv1alpha1.ReasonLegalHold, yellow
	}
	if moot(t) {
		return privacyv1alpha1.ReasonRequestFinished, faint
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, privacyv1alpha1.TaskConditionLate); c != nil && c.Status == metav1.ConditionTrue {
		switch c.Reason {
		case privacyv1alpha1.ReasonPastDueDate:
			return c.Reason, red
		case privacyv1alpha1.ReasonPastHalfSLA, privacyv1alpha1.ReasonPastSLA:
			return c.Reason, yellow
		}
		return printable(c.Reason), yellow
	}
	return "Open", ""
}

// passed is the colour of an open task's date that has passed.
func passed(t *privacyv1alpha1.PrivacyTask, when *metav1.Time, now time.Time, colour string) string {
	if isOpen(t) && when != nil && !when.After(now) {
		return colour
	}
	return ""
}

// writeTaskTable lists tasks: open ones first, then by due date (tasks
// without one, such as purges, last), then by namespace and name.
func writeTaskTable(w io.Writer, tasks []privacyv1alpha1.PrivacyTask, withNamespace bool, now time.Time, colour bool) {
	sort.SliceStable(tasks, func(i, j int) bool {
		ti, tj := &tasks[i], &tasks[j]
		if oi, oj := isOpen(ti), isOpen(tj); oi != oj {
			return oi
		}
		di, dj := ti.Spec.DueAt, tj.Spec.DueAt
		switch {
		case di != nil && dj != nil && !di.Equal(dj):
			return di.Before(dj)
		case (di == nil) != (dj == nil):
			return di != nil
		}
		return ti.Namespace+"/"+ti.Name < tj.Namespace+"/"+tj.Name
	})
	header := []cell{{text: "NAME"}, {text: "TYPE"}, {text: "SOURCE"}, {text: "REQUEST"}, {text: "STATE"}, {text: "DUE"}, {text: "SLA"}, {text: "BY"}}
	if withNamespace {
		header = append([]cell{{text: "NAMESPACE"}}, header...)
	}
	rows := [][]cell{header}
	for i := range tasks {
		t := &tasks[i]
		by := "-"
		if t.Spec.Outcome != nil {
			by = printable(t.Spec.Outcome.CompletedBy)
		}
		state, stateColour := taskState(t)
		row := []cell{
			{text: printable(t.Name)}, {text: printable(string(t.Spec.Type))}, {text: printable(t.Spec.DataSource)}, {text: printable(t.Spec.Request.Name)},
			{text: state, colour: stateColour},
			{text: relative(t.Spec.DueAt, now), colour: passed(t, t.Spec.DueAt, now, red)},
			{text: relative(t.Spec.SLADueAt, now), colour: passed(t, t.Spec.SLADueAt, now, yellow)},
			{text: by},
		}
		if withNamespace {
			row = append([]cell{{text: printable(t.Namespace)}}, row...)
		}
		rows = append(rows, row)
	}
	writeColumns(w, rows, colour)
}

// cell is a table cell: its text, and its colour on a terminal.
type cell struct{ text, colour string }

// writeColumns writes rows as columns three spaces apart. Widths are
// measured on the text alone, and only the text is coloured, so that
// colour never shifts a column (as it would in a tabwriter, which counts
// the escape sequences).
func writeColumns(w io.Writer, rows [][]cell, colour bool) {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, c := range row {
			text := c.text
			if colour {
				text = sgr(c.colour, text)
			}
			b.WriteString(text)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+3))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// relative is "in 3d" or "2d ago" (hours under two days, minutes under
// an hour).
func relative(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := t.Sub(now)
	ago := d < 0
	if ago {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		s = strconv.Itoa(int(d/time.Minute)) + "m"
	}
	if ago {
		return s + " ago"
	}
	return "in " + s
}

// writeTask shows one task's job to the person doing it: the one output
// of the plugin that holds identities. Every string from the object is
// printed with control characters replaced.
func writeTask(w io.Writer, t *privacyv1alpha1.PrivacyTask, now time.Time, colour bool) {
	var rows [][2]string
	row := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	row("PrivacyTask", printable(t.Namespace)+"/"+printable(t.Name))
	state, stateColour := taskState(t)
	if !colour {
		stateColour = ""
	}
	row("State", sgr(stateColour, state))
	row("Request", printable(t.Spec.Request.Kind)+" "+printable(t.Spec.Request.Name))
	row("Type", printable(string(t.Spec.Type)))
	row("Source", printable(t.Spec.DataSource))
	dated := func(k string, when *metav1.Time, late string) {
		if when == nil {
			return
		}
		v := when.UTC().Format(time.RFC3339) + " (" + relative(when, now) + ")"
		if c := passed(t, when, now, late); colour && c != "" {
			v = sgr(c, v)
		}
		row(k, v)
	}
	dated("Due", t.Spec.DueAt, red)
	dated("SLA", t.Spec.SLADueAt, yellow)
	if t.Spec.AssigneeGroup != "" {
		row("Assigned to", printable(t.Spec.AssigneeGroup))
	}
	keys := make([]string, 0, len(t.Spec.Identities))
	for k := range t.Spec.Identities {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("Identity "+printable(k), printable(t.Spec.Identities[k]))
	}
	for _, c := range t.Spec.Corrections {
		row("Correct "+printable(c.Field), printable(c.Value))
	}
	if len(t.Spec.OptOutScopes) > 0 {
		row("Opt out of", printable(strings.Join(t.Spec.OptOutScopes, ", ")))
	}
	if pg := t.Spec.Purge; pg != nil {
		cats := make([]string, 0, len(pg.Categories))
		for _, c := range pg.Categories {
			cats = append(cats, printable(string(c)))
		}
		what := "all categories"
		if len(cats) > 0 {
			what = strings.Join(cats, ", ")
		}
		row("Purge", fmt.Sprintf("%s data of %s older than %s", printable(pg.Action), what, pg.Before.UTC().Format(time.RFC3339)))
	}
	if o := t.Spec.Outcome; o != nil {
		outcome := printable(string(o.Result))
		if o.Records != nil {
			outcome += fmt.Sprintf(", %d records", *o.Records)
		}
		row("Outcome", fmt.Sprintf("%s, by %s at %s", outcome, printable(o.CompletedBy), o.CompletedAt.UTC().Format(time.RFC3339)))
		if o.Note != "" {
			row("Note", printable(o.Note))
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s:%s%s\n", r[0], strings.Repeat(" ", width-utf8.RuneCountInString(r[0])+2), r[1])
	}
	fmt.Fprintln(w, "Instructions:")
	instructions := strings.TrimRight(t.Spec.Instructions, "\n")
	if instructions == "" {
		instructions = "-"
	}
	for _, l := range strings.Split(instructions, "\n") {
		fmt.Fprintln(w, "  "+printable(l))
	}
	switch hold := heldBy(t); {
	case hold != "":
		fmt.Fprintf(w, "Do not carry it out: LegalHold %s now covers this job, and the task can no longer be completed.\n", printable(hold))
	case moot(t):
		fmt.Fprintf(w, "Nothing to do: its %s finished without it, and it can no longer be completed.\n", printable(t.Spec.Request.Kind))
	case t.Spec.Outcome == nil:
		fmt.Fprintf(w, "When done: kubectl privacy complete %s -n %s --outcome Completed|NotFound|Failed|Refused --records N --note TEXT\n", t.Name, t.Namespace)
	}
}
