package kubectlprivacy

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func testTask(name string, due, sla time.Duration, late string, now time.Time) privacyv1alpha1.PrivacyTask {
	t := privacyv1alpha1.PrivacyTask{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "archive"},
		Spec: privacyv1alpha1.PrivacyTaskSpec{
			Request:    privacyv1alpha1.TaskRequestReference{Kind: "PrivacyRequest", Name: "delete-ada"},
			DataSource: "paper-archive", Type: privacyv1alpha1.RequestTypeDelete,
			DueAt: &metav1.Time{Time: now.Add(due)}, SLADueAt: &metav1.Time{Time: now.Add(sla)},
		},
	}
	if late != "" {
		t.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.TaskConditionLate, Status: metav1.ConditionTrue, Reason: late}}
	}
	return t
}

// On a terminal, colour must not shift the columns, and each state has
// its colour: late in yellow, past the due date in red, open plain.
func TestTaskTableColour(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	done := testTask("pr-done-with-a-long-name", 5*24*time.Hour, time.Hour, "", now)
	done.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultRefused, CompletedBy: "clerk-carl"}
	tasks := func() []privacyv1alpha1.PrivacyTask {
		return []privacyv1alpha1.PrivacyTask{
			done,
			testTask("pr-open", 20*24*time.Hour, 10*24*time.Hour, "", now),
			testTask("pr-half", 10*24*time.Hour, 2*24*time.Hour, privacyv1alpha1.ReasonPastHalfSLA, now),
			testTask("pr-sla", 3*24*time.Hour, -time.Hour, privacyv1alpha1.ReasonPastSLA, now),
			testTask("pr-due", -2*24*time.Hour, -5*24*time.Hour, privacyv1alpha1.ReasonPastDueDate, now),
		}
	}
	var plain, coloured bytes.Buffer
	writeTaskTable(&plain, tasks(), true, now, false)
	writeTaskTable(&coloured, tasks(), true, now, true)
	if got := ansi.ReplaceAllString(coloured.String(), ""); got != plain.String() {
		t.Errorf("colour changes the layout:\n%s\nplain:\n%s", got, plain.String())
	}
	want := "NAMESPACE   NAME                       TYPE     SOURCE          REQUEST      STATE                 DUE      SLA      BY\n" +
		"archive     pr-due                     Delete   paper-archive   delete-ada   PastDueDate           2d ago   5d ago   -\n" +
		"archive     pr-sla                     Delete   paper-archive   delete-ada   PastSLA               in 3d    1h ago   -\n" +
		"archive     pr-half                    Delete   paper-archive   delete-ada   PastHalfSLA           in 10d   in 2d    -\n" +
		"archive     pr-open                    Delete   paper-archive   delete-ada   Open                  in 20d   in 10d   -\n" +
		"archive     pr-done-with-a-long-name   Delete   paper-archive   delete-ada   Completed (Refused)   in 5d    in 1h    clerk-carl\n"
	if plain.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", plain.String(), want)
	}
	for _, s := range []string{
		"\x1b[31mPastDueDate\x1b[0m", "\x1b[31m2d ago\x1b[0m", "\x1b[33m5d ago\x1b[0m",
		"\x1b[33mPastSLA\x1b[0m", "\x1b[33m1h ago\x1b[0m", "\x1b[33mPastHalfSLA\x1b[0m", "\x1b[31mCompleted (Refused)\x1b[0m",
	} {
		if !strings.Contains(coloured.String(), s) {
			t.Errorf("no %q in\n%s", s, coloured.String())
		}
	}
	if strings.Contains(coloured.String(), "m"+"Open") {
		t.Error("an open task on time is coloured")
	}
}

// Every string of a task is printed with control characters replaced: an
// instruction or a note must not move the terminal or fake a line.
func TestWriteTaskPrintable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	task := testTask("pr-a1", 24*time.Hour, time.Hour, "", now)
	task.Spec.Instructions = "Look in box 4.\r\x1b[2KDone: nothing to do\nthen \u202eshred"
	task.Spec.Identities = map[string]string{"email\x1b[8m": "ada@example.com\x07"}
	task.Spec.Corrections = []privacyv1alpha1.Correction{{Field: "phone", Value: "+44\n20"}}
	task.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultNotFound, CompletedBy: "carl\x1b]0;x\x07", Note: "none\nState: Open"}
	var out bytes.Buffer
	writeTask(&out, &task, now, false)
	got := out.String()
	if strings.ContainsAny(got, "\x1b\r\x07\u202e") {
		t.Errorf("a control character was printed:\n%q", got)
	}
	for _, s := range []string{"  Look in box 4.??[2KDone: nothing to do\n", "  then ?shred\n", "Identity email?[8m:  ada@example.com?\n",
		"Correct phone:", "+44?20\n", "Note:", "none?State: Open\n", "State:", "Completed (NotFound)\n", "by carl?]0;x? at"} {
		if !strings.Contains(got, s) {
			t.Errorf("no %q in\n%s", s, got)
		}
	}
	if strings.Contains(got, "When done") {
		t.Error("a completed task says how to complete it")
	}
}

func TestTaskResult(t *testing.T) {
	for _, c := range []struct {
		outcome string
		records int64 // -1: not given
		note    string
		exempt  string
		want    string // an error, or the result
	}{
		{"Completed", 3, "", "", "Completed"},
		{"completed", 0, "", "", "Completed"},
		{"NotFound", -1, "", "", "NotFound"},
		{"Refused", -1, "", "Tax law: 10 years", "Refused"},
		{"Refused", -1, "Tax law: 10 years", " ", "--exemption is required with --outcome Refused"},
		{"Failed", -1, "disk gone", "CCPA 1798.105(d)(8)", "--exemption is only for --outcome Refused, not Failed"},
		{"Refused", -1, "", strings.Repeat("§", maxExemption+1), "--exemption is 257 characters; at most 256"},
		{"Failed", -1, " \n", "", "--note is required with --outcome Failed"},
		{"Completed", -1, "", "", "--records is required"},
		{"NotFound", -2, "", "", "--records: want a count of 0 or more"},
		{"Completed", -5, "", "", "--records: want a count of 0 or more"},
		{"", 1, "", "", "--outcome is required"},
		{"Done\x1b[2J", 1, "", "", `--outcome "Done?[2J"`},
		{"NotFound", -1, strings.Repeat("é", maxNote), "", "NotFound"}, // characters, not bytes, as the API counts
		{"NotFound", -1, strings.Repeat("é", maxNote+1), "", "--note is 1025 characters; at most 1024"},
	} {
		var records *int64 // -1: no --records
		if c.records != -1 {
			records = &c.records
		}
		r, err := taskResult(c.outcome, records, c.note, c.exempt)
		got := string(r)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%q %d %.10q: %q, want %q", c.outcome, c.records, c.note, got, c.want)
		}
	}
}

// A conflict says the task changed; an admission policy's 403 is printed
// as it is, without the hint about the role that RBAC's 403 gets.
func TestCompleteError(t *testing.T) {
	task := &privacyv1alpha1.PrivacyTask{ObjectMeta: metav1.ObjectMeta{Name: "pr-a1", Namespace: "archive"}}
	gr := schema.GroupResource{Group: "privacyoperator.io", Resource: "privacytasks"}
	for _, c := range []struct {
		err       error
		want, not string
	}{
		{apierrors.NewConflict(gr, "pr-a1", errors.New("the object has been modified")),
			"privacytask archive/pr-a1 changed while it was being completed (conflict): nothing was written", ""},
		{apierrors.NewForbidden(gr, "pr-a1", errors.New("ValidatingAdmissionPolicy 'privacytask-completion' with binding 'privacytask-completion' denied request: PrivacyTask pr-a1 was already completed by dora (NotFound)")),
			"denied request: PrivacyTask pr-a1 was already completed by dora", "privacy-task-worker"},
		{apierrors.NewForbidden(gr, "pr-a1", errors.New(`User "dora" cannot patch resource "privacytasks" in API group "privacyoperator.io" in the namespace "archive"`)),
			"ask for the privacy-task-worker role", ""},
	} {
		got := completeError(task, c.err).Error()
		if !strings.Contains(got, c.want) || c.not != "" && strings.Contains(got, c.not) {
			t.Errorf("%v:\n%s\nwant %q, not %q", c.err, got, c.want, c.not)
		}
	}
}

// status's tree is coloured on a terminal: the colour is applied after
// control characters are replaced, so it reaches the terminal.
func TestTreeColour(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pr := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{Name: "delete-ada"}}
	pr.Spec.Suspend = true
	pr.Spec.Requester = "eve\x1b[2J"
	pr.Status.Phase = privacyv1alpha1.RequestPhasePending
	var out bytes.Buffer
	writeTree(&out, pr, now, painter(true))
	if !strings.Contains(out.String(), "phase:     \x1b[33mPending\x1b[0m (suspended: waiting for approval)\n") ||
		!strings.Contains(out.String(), "requester: eve?[2J\n") {
		t.Errorf("%q", out.String())
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("denied request:\n  a task is\tcompleted once\x1b[0m"); got != "denied request: a task is completed once?[0m" {
		t.Errorf("%q", got)
	}
	if got := printable("a\u2028b\u202ec\u2066d"); got != "a?b?c?d" {
		t.Errorf("%q", got)
	}
}
