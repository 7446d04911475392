package kubectlprivacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// maxNote is the API's limit on an outcome's note.
const maxNote = 1024

func newTasksCommand(o *options) *cobra.Command {
	printFlags := genericclioptions.NewJSONYamlPrintFlags()
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "tasks [TASK]",
		Short: "List the PrivacyTasks of manual data sources, or show one task's job",
		Long: "Without a name, lists the PrivacyTasks of the namespace (-A: of every namespace, which needs the role\n" +
			"cluster-wide): open ones first, by due date, with their state (Open, PastHalfSLA, PastSLA, PastDueDate,\n" +
			"RequestFinished, Completed or Completed (RESULT)), request due date, SLA and who completed them. The list\n" +
			"never shows identities or correction values; -o json|yaml prints the objects with them replaced by " + redacted + ".\n\n" +
			"With a name, shows what the person doing the task needs: the request, type, due date, SLA, instructions,\n" +
			"and the identities to look for (and corrections, scopes or purge). This is the one view of kubectl privacy\n" +
			"that prints identities: only holders of the privacy-task-worker role in the namespace can read tasks.",
		Example: "  kubectl privacy tasks -A\n  kubectl privacy tasks -n archive\n  kubectl privacy tasks pr-3f1c0e... -n archive",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("want at most one PrivacyTask name, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := o.clock()
			if err != nil {
				return usageError(err)
			}
			if output != "" && output != "json" && output != "yaml" {
				return usageError(errors.New("-o: want json or yaml"))
			}
			if len(args) == 1 && all {
				return usageError(errors.New("--all-namespaces lists tasks: give no name with it"))
			}
			c, ns, err := o.namespacedClient()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				u, task, err := getTask(cmd, c, ns, args[0])
				if err != nil {
					return err
				}
				if output != "" {
					return printRedacted(printFlags, output, o.streams.Out, u)
				}
				writeTask(o.streams.Out, task, now, o.color())
				return nil
			}
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind("PrivacyTaskList"))
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				if all && apierrors.IsForbidden(err) {
					return &exitError{code: ExitError, err: fmt.Errorf("%w: -A needs the privacy-task-worker role in every namespace (a ClusterRoleBinding); with a RoleBinding, list one namespace with -n", err)}
				}
				return taskReadError(err, "")
			}
			if output != "" {
				return printRedacted(printFlags, output, o.streams.Out, list)
			}
			tasks := make([]privacyv1alpha1.PrivacyTask, 0, len(list.Items))
			for _, u := range list.Items {
				t := privacyv1alpha1.PrivacyTask{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &t); err != nil {
					return &exitError{code: ExitError, err: err}
				}
				tasks = append(tasks, t)
			}
			if len(tasks) == 0 {
				where := "in namespace " + ns
				if all {
					where = "in any namespace you may read"
				}
				fmt.Fprintln(o.streams.ErrOut, "No PrivacyTasks "+where+".")
				return nil
			}
			writeTaskTable(o.streams.Out, tasks, all, now, o.color())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the tasks of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the objects as json or yaml (identities and correction values redacted)")
	printFlags.AddFlags(cmd)
	return cmd
}

func newCompleteCommand(o *options) *cobra.Command {
	var outcome, note string
	var records int64
	cmd := &cobra.Command{
		Use:   "complete TASK --outcome Completed|NotFound|Failed|Refused [--records N] [--note TEXT]",
		Short: "Complete a PrivacyTask in your own name",
		Long: "Sets the task's spec.outcome in one merge patch: the result, the record count, the note, completedBy\n" +
			"(you, as the API server authenticates you) and completedAt (now). The privacytask-completion admission\n" +
			"policy admits it only in your own name, and only once. The note goes into the request's status and\n" +
			"receipt: write no personal data in it. Completed needs --records; Failed and Refused need a --note\n" +
			"saying why.",
		Example: `  kubectl privacy complete pr-3f1c0e... -n archive --outcome Completed --records 2 --note "Two letters shredded (box 17)"` + "\n" +
			`  kubectl privacy complete pr-3f1c0e... -n archive --outcome Refused --note "Invoices kept 10 years (tax law)"`,
		Args: exactArgs(1, "one PrivacyTask name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var given *int64 // nil: no --records
			if cmd.Flags().Changed("records") {
				given = &records
			}
			result, err := taskResult(outcome, given, note)
			if err != nil {
				return usageError(err)
			}
			// completedAt is the wall clock's, never a flag's: it goes into
			// the request's account.
			now := time.Now()
			c, ns, err := o.namespacedClient()
			if err != nil {
				return err
			}
			_, task, err := getTask(cmd, c, ns, args[0])
			if err != nil {
				return err
			}
			if done := task.Spec.Outcome; done != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s/%s was already completed by %s at %s (%s): a task is completed once",
					task.Namespace, task.Name, printable(done.CompletedBy), done.CompletedAt.UTC().Format(time.RFC3339), done.Result)}
			}
			if hold := heldBy(task); hold != "" {
				return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s/%s can no longer be completed: LegalHold %s now covers its job, which must not be carried out (status reason %s)",
					task.Namespace, task.Name, printable(hold), privacyv1alpha1.ReasonLegalHold)}
			}
			if moot(task) {
				return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s/%s can no longer be completed: its %s %s finished without it (status reason %s)",
					task.Namespace, task.Name, task.Spec.Request.Kind, printable(task.Spec.Request.Name), privacyv1alpha1.ReasonRequestFinished)}
			}
			user, err := whoAmI(cmd, c)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			out := privacyv1alpha1.TaskOutcome{
				Result: result, Note: strings.TrimSpace(note), CompletedBy: user,
				CompletedAt: metav1.NewTime(now.UTC().Truncate(time.Second)),
			}
			out.Records = given
			patch, err := json.Marshal(map[string]any{
				"metadata": map[string]any{"resourceVersion": task.ResourceVersion},
				"spec":     map[string]any{"outcome": out},
			})
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if err := c.Patch(cmd.Context(), task, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return completeError(task, err)
			}
			what := string(result)
			if out.Records != nil {
				what += fmt.Sprintf(", %d records", *out.Records)
			}
			fmt.Fprintf(o.streams.Out, "privacytask %s/%s completed: %s, by %s\n", task.Namespace, task.Name, what, user)
			return nil
		},
	}
	cmd.Flags().StringVar(&outcome, "outcome", "", "Completed, NotFound, Failed or Refused (required)")
	cmd.Flags().Int64Var(&records, "records", 0, "how many records you found, changed or removed (0 or more; required with Completed)")
	cmd.Flags().StringVar(&note, "note", "", "what was done, or why not; kept in the request's receipt (no personal data; at most 1024 characters)")
	return cmd
}

// taskResult checks complete's flags before anything is asked of the cluster.
// records is nil when --records was not given.
func taskResult(outcome string, records *int64, note string) (privacyv1alpha1.TaskResult, error) {
	results := []privacyv1alpha1.TaskResult{privacyv1alpha1.TaskResultCompleted, privacyv1alpha1.TaskResultNotFound,
		privacyv1alpha1.TaskResultFailed, privacyv1alpha1.TaskResultRefused}
	var result privacyv1alpha1.TaskResult
	for _, r := range results {
		if strings.EqualFold(outcome, string(r)) {
			result = r
		}
	}
	note = strings.TrimSpace(note)
	switch {
	case outcome == "":
		return "", errors.New("--outcome is required: Completed, NotFound, Failed or Refused")
	case result == "":
		return "", fmt.Errorf("--outcome %q: want Completed, NotFound, Failed or Refused", printable(outcome))
	case records != nil && *records < 0:
		return "", errors.New("--records: want a count of 0 or more")
	case result == privacyv1alpha1.TaskResultCompleted && records == nil:
		return "", errors.New("--records is required with --outcome Completed: how many records you found, changed or removed")
	case (result == privacyv1alpha1.TaskResultFailed || result == privacyv1alpha1.TaskResultRefused) && note == "":
		return "", fmt.Errorf("--note is required with --outcome %s: say why (no personal data)", result)
	case utf8.RuneCountInString(note) > maxNote:
		// Characters, as the API's maxLength counts them.
		return "", fmt.Errorf("--note is %d characters; at most %d", utf8.RuneCountInString(note), maxNote)
	}
	return result, nil
}

// namespacedClient is the caller's client and namespace (-n, else the
// kubeconfig's, as kubectl).
func (o *options) namespacedClient() (client.Client, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, "", &exitError{code: ExitError, err: err}
	}
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", &exitError{code: ExitError, err: fmt.Errorf("kubeconfig: %w", err)}
	}
	return c, ns, nil
}

// getTask reads a PrivacyTask as unstructured and typed.
func getTask(cmd *cobra.Command, c client.Client, ns, name string) (*unstructured.Unstructured, *privacyv1alpha1.PrivacyTask, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind("PrivacyTask"))
	if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("privacytask %q not found in namespace %s (kubectl privacy tasks -A lists them)", name, ns)}
		}
		return nil, nil, taskReadError(err, name)
	}
	task := &privacyv1alpha1.PrivacyTask{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, task); err != nil {
		return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("read privacytask %q: %w", name, err)}
	}
	return u, task, nil
}

// completeError words a failed completion: a conflict means the task
// changed since it was read; an admission policy's refusal is printed as
// the API server words it; RBAC's says which role is missing.
func completeError(task *privacyv1alpha1.PrivacyTask, err error) error {
	if apierrors.IsConflict(err) {
		return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s/%s changed while it was being completed (conflict): nothing was written; look at it again (kubectl privacy tasks %s -n %s)",
			task.Namespace, task.Name, task.Name, task.Namespace)}
	}
	return taskReadError(err, task.Name)
}

// rbacDenied says whether a Forbidden error is RBAC's (the authorizer
// names the resource it refused) rather than an admission policy's.
func rbacDenied(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `resource "privacytasks"`)
}

// taskReadError words an API error about tasks: a missing kind and a
// missing role say what to do.
func taskReadError(err error, name string) error {
	switch {
	case meta.IsNoMatchError(err):
		return &exitError{code: ExitError, err: fmt.Errorf("this cluster has no PrivacyTask kind: is Privacy Operator installed? (%w)", err)}
	case rbacDenied(err):
		return &exitError{code: ExitError, err: fmt.Errorf("%w: PrivacyTasks hold personal data; ask for the privacy-task-worker role in the task's namespace", err)}
	}
	if name != "" {
		return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s: %w", name, err)}
	}
	return &exitError{code: ExitError, err: err}
}

// redactTask replaces a task's personal data (identity values, correction
// values) before it is printed as an object, as redactIdentities does for
// a request.
func redactTask(u *unstructured.Unstructured) {
	redactValues(u, []string{"spec", "identities"}, []string{"spec", "corrections"})
	annotations := u.GetAnnotations()
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	u.SetAnnotations(annotations)
	u.SetManagedFields(nil)
}

// printRedacted prints a task or a list of tasks as json or yaml, each
// task redacted by redactTask.
func printRedacted(printFlags *genericclioptions.JSONYamlPrintFlags, output string, w io.Writer, obj runtime.Object) error {
	p, err := printFlags.ToPrinter(output)
	if err != nil {
		return usageError(err)
	}
	switch v := obj.(type) {
	case *unstructured.Unstructured:
		redactTask(v)
	case *unstructured.UnstructuredList:
		for i := range v.Items {
			redactTask(&v.Items[i])
		}
	default:
		return &exitError{code: ExitError, err: fmt.Errorf("cannot print %T", obj)}
	}
	return p.PrintObj(obj, w)
}

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
