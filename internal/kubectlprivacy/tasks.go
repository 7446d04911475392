package kubectlprivacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// maxExemption is the API's limit on an outcome's exemption.
const maxExemption = 256

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
	var outcome, note, exemption string
	var records int64
	cmd := &cobra.Command{
		Use:   "complete TASK --outcome Completed|NotFound|Failed|Refused [--records N] [--exemption BASIS] [--note TEXT]",
		Short: "Complete a PrivacyTask in your own name",
		Long: "Sets the task's spec.outcome in one merge patch: the result, the record count, the note, completedBy\n" +
			"(you, as the API server authenticates you) and completedAt (now). The privacytask-completion admission\n" +
			"policy admits it only in your own name, and only once. The note goes into the request's status and\n" +
			"receipt: write no personal data in it. Completed needs --records; Failed needs a --note saying why.\n" +
			"Refused is for a job an exemption the law allows excuses (not for one that could not be done: that is\n" +
			"Failed): --exemption names its basis, which the request's status, receipt and the person's notice carry,\n" +
			"and the request completes with this source listed as refused. A child's Delete cannot be refused so.",
		Example: `  kubectl privacy complete pr-3f1c0e... -n archive --outcome Completed --records 2 --note "Two letters shredded (box 17)"` + "\n" +
			`  kubectl privacy complete pr-3f1c0e... -n archive --outcome Refused --exemption "HGB §257 (10-year retention of invoices)" --note "Invoices kept, the rest shredded"`,
		Args: exactArgs(1, "one PrivacyTask name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var given *int64 // nil: no --records
			if cmd.Flags().Changed("records") {
				given = &records
			}
			result, err := taskResult(outcome, given, note, exemption)
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
				Result: result, Note: strings.TrimSpace(note), Exemption: strings.TrimSpace(exemption), CompletedBy: user,
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
			if out.Exemption != "" {
				what += " under " + out.Exemption
			}
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
	cmd.Flags().StringVar(&exemption, "exemption", "", "with --outcome Refused: the exemption's basis, e.g. \"CCPA 1798.105(d)(8)\" (no personal data; at most 256 characters)")
	return cmd
}

// taskResult checks complete's flags before anything is asked of the cluster.
// records is nil when --records was not given.
func taskResult(outcome string, records *int64, note, exemption string) (privacyv1alpha1.TaskResult, error) {
	results := []privacyv1alpha1.TaskResult{privacyv1alpha1.TaskResultCompleted, privacyv1alpha1.TaskResultNotFound,
		privacyv1alpha1.TaskResultFailed, privacyv1alpha1.TaskResultRefused}
	var result privacyv1alpha1.TaskResult
	for _, r := range results {
		if strings.EqualFold(outcome, string(r)) {
			result = r
		}
	}
	note, exemption = strings.TrimSpace(note), strings.TrimSpace(exemption)
	switch {
	case outcome == "":
		return "", errors.New("--outcome is required: Completed, NotFound, Failed or Refused")
	case result == "":
		return "", fmt.Errorf("--outcome %q: want Completed, NotFound, Failed or Refused", printable(outcome))
	case records != nil && *records < 0:
		return "", errors.New("--records: want a count of 0 or more")
	case result == privacyv1alpha1.TaskResultCompleted && records == nil:
		return "", errors.New("--records is required with --outcome Completed: how many records you found, changed or removed")
	case result == privacyv1alpha1.TaskResultFailed && note == "":
		return "", fmt.Errorf("--note is required with --outcome %s: say why (no personal data)", result)
	case result == privacyv1alpha1.TaskResultRefused && exemption == "":
		return "", errors.New("--exemption is required with --outcome Refused: the basis the law allows, e.g. \"CCPA 1798.105(d)(8)\" (a job that could not be done is --outcome Failed)")
	case result != privacyv1alpha1.TaskResultRefused && exemption != "":
		return "", fmt.Errorf("--exemption is only for --outcome Refused, not %s", result)
	case utf8.RuneCountInString(exemption) > maxExemption:
		return "", fmt.Errorf("--exemption is %d characters; at most %d", utf8.RuneCountInString(exemption), maxExemption)
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
