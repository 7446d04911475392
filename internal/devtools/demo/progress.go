package demo

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// The requests Ada makes. Delete goes last, once the others have finished:
// it would otherwise race them for her data.
const requestsManifest = `# Ada asks for her data, corrects her phone number and opts out of marketing.
apiVersion: privacyoperator.io/v1alpha1
kind: PrivacyRequest
metadata:
  name: access-2026-0001
spec:
  type: Access
  regulation: GDPR
  subject:
    identities: {email: ` + subjectEmail + `}
---
apiVersion: privacyoperator.io/v1alpha1
kind: PrivacyRequest
metadata:
  name: correct-2026-0002
spec:
  type: Correct
  regulation: GDPR
  subject:
    identities: {email: ` + subjectEmail + `}
  corrections:
  - field: phone
    value: "+44 20 7946 1815"
---
apiVersion: privacyoperator.io/v1alpha1
kind: PrivacyRequest
metadata:
  name: optout-2026-0003
spec:
  type: OptOut
  regulation: CCPA
  subject:
    identities: {email: ` + subjectEmail + `}
  optOut:
    scopes: [email-marketing, sms-marketing]
`

const deleteManifest = `# Then she asks to be forgotten.
apiVersion: privacyoperator.io/v1alpha1
kind: PrivacyRequest
metadata:
  name: delete-2026-0004
spec:
  type: Delete
  regulation: GDPR
  subject:
    identities: {email: ` + subjectEmail + `}
`

// Usage data is kept for a year; the demo's policy runs every minute so
// that its first run comes within the demo.
const retentionManifest = `apiVersion: privacyoperator.io/v1alpha1
kind: RetentionPolicy
metadata:
  name: ` + policyName + `
spec:
  categories: [usage]
  retainFor: 365d
  action: Delete
  schedule: "* * * * *"
`

// apply applies the policy and the requests, and shows their progress
// until all have finished.
func (r *run) apply(ctx context.Context) error {
	r.step("Applying a RetentionPolicy and Ada's requests")
	for _, m := range []struct{ file, body string }{{"retention.yaml", retentionManifest}, {"requests.yaml", requestsManifest}} {
		if err := r.kubectlApply(m.file, m.body); err != nil {
			return err
		}
	}
	// Filed before the table starts, so that the Delete, applied once all
	// the others have finished, waits for this one too.
	if err := r.fileAtCenter(ctx); err != nil {
		return err
	}
	r.names = append([]string{requestNames[0], r.centerRequest}, requestNames[1:]...)
	t := &table{out: r, tty: r.TTY}
	deleteApplied := false
	return r.waitFor(ctx, "the requests, the archive's tasks and the first retention run to finish", func() (bool, error) {
		rows, finished, err := r.rows(ctx)
		if err != nil {
			return false, err
		}
		tasks, completed, err := r.taskRows(ctx)
		if err != nil {
			return false, err
		}
		t.show(append(rows, tasks...))
		if did, err := r.completeOpenTasks(ctx); did || err != nil {
			t.pause()
			return false, err
		}
		if !deleteApplied && r.requestsFinished(rows) == len(r.names)-1 {
			deleteApplied = true
			t.pause()
			if err := r.kubectlApply("delete.yaml", deleteManifest); err != nil {
				return false, err
			}
			return false, nil
		}
		return deleteApplied && finished == len(rows) && completed == len(tasks), nil
	})
}

// kindOf is the request's type, labelled when it came through the center.
func (r *run) kindOf(pr *privacyv1alpha1.PrivacyRequest) string {
	if pr.Name == r.centerRequest {
		return centerLabel
	}
	return string(pr.Spec.Type)
}

// requestsFinished counts the finished requests among the rows.
func (r *run) requestsFinished(rows []row) int {
	n := 0
	for _, rw := range rows {
		if rw.kind != "Retention" && (rw.phase == string(privacyv1alpha1.RequestPhaseCompleted) || rw.phase == string(privacyv1alpha1.RequestPhaseFailed)) {
			n++
		}
	}
	return n
}

// row is one line of the progress table.
type row struct{ name, kind, phase, sources, due string }

// rows reads the requests and the policy; finished counts the rows that
// reached their end.
func (r *run) rows(ctx context.Context) ([]row, int, error) {
	var rows []row
	finished := 0
	for _, name := range r.names {
		pr := &privacyv1alpha1.PrivacyRequest{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: name}, pr); client.IgnoreNotFound(err) != nil {
			return nil, 0, err
		} else if err != nil {
			continue
		}
		phase := string(pr.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		due := ""
		if pr.Status.DueAt != nil {
			due = pr.Status.DueAt.Format("2006-01-02")
		}
		rows = append(rows, row{name: name, kind: r.kindOf(pr), phase: phase, sources: doneOf(pr.Status.Progress, len(pr.Status.Sources)), due: due})
		if pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted || pr.Status.Phase == privacyv1alpha1.RequestPhaseFailed {
			finished++
		}
	}
	rp := &privacyv1alpha1.RetentionPolicy{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: policyName}, rp); err != nil {
		return nil, 0, client.IgnoreNotFound(err)
	}
	pr := row{name: policyName, kind: "Retention", phase: "Scheduled", sources: fmt.Sprintf("0/%d", rp.Status.MatchedSources)}
	if next := rp.Status.NextScheduleTime; next != nil {
		pr.due = "next run " + next.Local().Format("15:04:05")
	}
	if len(rp.Status.History) > 0 {
		run := rp.Status.History[0]
		done := 0
		for _, s := range run.Sources {
			if s.Phase == privacyv1alpha1.SourcePhaseCompleted || s.Phase == privacyv1alpha1.SourcePhaseFailed {
				done++
			}
		}
		pr.sources = fmt.Sprintf("%d/%d", done, len(run.Sources))
		pr.phase = "Running"
		if run.CompletedAt != nil {
			pr.phase, pr.due = string(run.Outcome), "ran "+run.ScheduledTime.Local().Format("15:04:05")
			finished++
		}
	}
	rows = append(rows, pr)
	return rows, finished, nil
}

// doneOf shows "done/total" from the request's progress field, which
// already reads like that, or 0/n before the first pass.
func doneOf(progress string, total int) string {
	if progress != "" {
		return progress
	}
	return fmt.Sprintf("0/%d", total)
}

// table shows rows: redrawn in place on a terminal, else a line per change.
type table struct {
	out   *run
	tty   bool
	lines int
	last  map[string]row
	drawn string
}

func (t *table) show(rows []row) {
	if !t.tty {
		if t.last == nil {
			t.last = map[string]row{}
		}
		for _, r := range rows {
			if t.last[r.name] != r {
				fmt.Fprintf(t.out.Out, "%s  %-22s %-9s %-10s sources %-5s %s\n", time.Now().Format("15:04:05"), r.name, r.kind, r.phase, r.sources, r.due)
				t.last[r.name] = r
			}
		}
		return
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tTYPE\tPHASE\tSOURCES\tDUE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.name, r.kind, r.phase, r.sources, r.due)
	}
	_ = w.Flush()
	if t.lines > 0 && b.String() == t.drawn {
		return
	}
	t.drawn = b.String()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if t.lines > 0 {
		fmt.Fprintf(t.out.Out, "\x1b[%dA", t.lines)
	}
	for _, l := range lines {
		fmt.Fprintf(t.out.Out, "\x1b[2K%s\n", l)
	}
	t.lines = len(lines)
}

// pause lets other output go below the table; the next show starts a new one.
func (t *table) pause() { t.lines = 0 }
