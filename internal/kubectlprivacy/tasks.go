package kubectlprivacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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
		Long: "Without a name, lists the PrivacyTasks of the namespace (-A: of every namespace you may read): open ones first,\n" +
			"by due date, with their state (Open, PastHalfSLA, PastSLA, PastDueDate, or the result), request due date,\n" +
			"SLA and who completed them. The list never shows identities or correction values; -o json|yaml prints\n" +
			"the objects with them replaced by " + redacted + ".\n\n" +
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
				writeTask(o.streams.Out, task, now, painter(o.color()))
				return nil
			}
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind("PrivacyTaskList"))
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return taskReadError(err, "")
			}
			if output != "" {
				for i := range list.Items {
					redactTask(&list.Items[i])
				}
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
			writeTaskTable(o.streams.Out, tasks, all, now, painter(o.color()))
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
	records := int64(-1)
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
			result, err := taskResult(outcome, records, note)
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
					task.Namespace, task.Name, done.CompletedBy, done.CompletedAt.UTC().Format(time.RFC3339), done.Result)}
			}
			user, err := whoAmI(cmd, c)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			out := privacyv1alpha1.TaskOutcome{
				Result: result, Note: strings.TrimSpace(note), CompletedBy: user,
				CompletedAt: metav1.NewTime(now.UTC().Truncate(time.Second)),
			}
			if records >= 0 {
				out.Records = &records
			}
			patch, err := json.Marshal(map[string]any{
				"metadata": map[string]any{"resourceVersion": task.ResourceVersion},
				"spec":     map[string]any{"outcome": out},
			})
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if err := c.Patch(cmd.Context(), task, client.RawPatch(types.MergePatchType, patch)); err != nil {
				if apierrors.IsConflict(err) {
					return &exitError{code: ExitError, err: fmt.Errorf("privacytask %s/%s changed while it was being completed: look at it again (kubectl privacy tasks %s -n %s)",
						task.Namespace, task.Name, task.Name, task.Namespace)}
				}
				return taskReadError(err, task.Name)
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
	cmd.Flags().Int64Var(&records, "records", -1, "how many records you found, changed or removed (required with Completed)")
	cmd.Flags().StringVar(&note, "note", "", "what was done, or why not; kept in the request's receipt (no personal data; at most 1024 characters)")
	return cmd
}

// taskResult checks complete's flags before anything is asked of the cluster.
func taskResult(outcome string, records int64, note string) (privacyv1alpha1.TaskResult, error) {
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
	case records < -1:
		return "", errors.New("--records: want a count of 0 or more")
	case result == privacyv1alpha1.TaskResultCompleted && records < 0:
		return "", errors.New("--records is required with --outcome Completed: how many records you found, changed or removed")
	case (result == privacyv1alpha1.TaskResultFailed || result == privacyv1alpha1.TaskResultRefused) && note == "":
		return "", fmt.Errorf("--note is required with --outcome %s: say why (no personal data)", result)
	case len(note) > maxNote:
		return "", fmt.Errorf("--note is %d characters; at most %d", len(note), maxNote)
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

// taskReadError words an API error about tasks: a missing kind and a
// missing role say what to do.
func taskReadError(err error, name string) error {
	switch {
	case meta.IsNoMatchError(err):
		return &exitError{code: ExitError, err: fmt.Errorf("this cluster has no PrivacyTask kind: is Privacy Operator installed? (%w)", err)}
	case apierrors.IsForbidden(err):
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

// printRedacted prints obj (a task, redacted by the caller, or a list).
func printRedacted(printFlags *genericclioptions.JSONYamlPrintFlags, output string, w io.Writer, obj interface {
	UnstructuredContent() map[string]any
}) error {
	p, err := printFlags.ToPrinter(output)
	if err != nil {
		return usageError(err)
	}
	switch v := obj.(type) {
	case *unstructured.Unstructured:
		redactTask(v)
		return p.PrintObj(v, w)
	case *unstructured.UnstructuredList:
		return p.PrintObj(v, w)
	}
	return nil
}

// taskState is Open, the Late reason, RequestFinished (moot), or the
// result of a completed task.
func taskState(t *privacyv1alpha1.PrivacyTask) string {
	if o := t.Spec.Outcome; o != nil {
		return string(o.Result)
	}
	for _, c := range t.Status.Conditions {
		switch {
		case c.Type == privacyv1alpha1.TaskConditionCompleted && c.Reason == privacyv1alpha1.ReasonRequestFinished:
			return c.Reason
		case c.Type == privacyv1alpha1.TaskConditionLate && c.Status == metav1.ConditionTrue:
			return c.Reason
		}
	}
	return "Open"
}

// writeTaskTable lists tasks: open ones first, then by due date.
func writeTaskTable(w io.Writer, tasks []privacyv1alpha1.PrivacyTask, withNamespace bool, now time.Time, p paint) {
	dueOf := func(t privacyv1alpha1.PrivacyTask) time.Time {
		if t.Spec.DueAt != nil {
			return t.Spec.DueAt.Time
		}
		return time.Time{}
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		oi, oj := tasks[i].Spec.Outcome == nil, tasks[j].Spec.Outcome == nil
		if oi != oj {
			return oi
		}
		if di, dj := dueOf(tasks[i]), dueOf(tasks[j]); !di.Equal(dj) {
			return di.Before(dj)
		}
		return tasks[i].Namespace+"/"+tasks[i].Name < tasks[j].Namespace+"/"+tasks[j].Name
	})
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := "NAME\tTYPE\tSOURCE\tREQUEST\tSTATE\tDUE\tSLA\tBY"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for i := range tasks {
		t := &tasks[i]
		by := "-"
		if t.Spec.Outcome != nil {
			by = printable(t.Spec.Outcome.CompletedBy)
		}
		line := strings.Join([]string{
			printable(t.Name), string(t.Spec.Type), printable(t.Spec.DataSource), printable(t.Spec.Request.Name),
			p(taskState(t)), relative(t.Spec.DueAt, now), relative(t.Spec.SLADueAt, now), by,
		}, "\t")
		if withNamespace {
			line = t.Namespace + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// relative is "in 3d" or "2d ago" (hours under two days).
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

// writeTask shows one task's job to the person doing it.
func writeTask(w io.Writer, t *privacyv1alpha1.PrivacyTask, now time.Time, p paint) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("PrivacyTask", t.Namespace+"/"+printable(t.Name))
	row("State", p(taskState(t)))
	row("Request", fmt.Sprintf("%s %s", t.Spec.Request.Kind, printable(t.Spec.Request.Name)))
	row("Type", string(t.Spec.Type))
	row("Source", printable(t.Spec.DataSource))
	if t.Spec.DueAt != nil {
		row("Due", t.Spec.DueAt.UTC().Format(time.RFC3339)+" ("+relative(t.Spec.DueAt, now)+")")
	}
	if t.Spec.SLADueAt != nil {
		row("SLA", t.Spec.SLADueAt.UTC().Format(time.RFC3339)+" ("+relative(t.Spec.SLADueAt, now)+")")
	}
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
			cats = append(cats, string(c))
		}
		row("Purge", fmt.Sprintf("%s data of %s older than %s", pg.Action, strings.Join(cats, ", "), pg.Before.UTC().Format(time.RFC3339)))
	}
	if o := t.Spec.Outcome; o != nil {
		outcome := string(o.Result)
		if o.Records != nil {
			outcome += fmt.Sprintf(", %d records", *o.Records)
		}
		row("Outcome", fmt.Sprintf("%s, by %s at %s", outcome, printable(o.CompletedBy), o.CompletedAt.UTC().Format(time.RFC3339)))
		if o.Note != "" {
			row("Note", printable(o.Note))
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "Instructions:")
	for _, l := range strings.Split(strings.TrimRight(t.Spec.Instructions, "\n"), "\n") {
		fmt.Fprintln(w, "  "+printable(l))
	}
	if t.Spec.Outcome == nil {
		fmt.Fprintf(w, "When done: kubectl privacy complete %s -n %s --outcome Completed|NotFound|Failed|Refused --records N --note TEXT\n", t.Name, t.Namespace)
	}
}
