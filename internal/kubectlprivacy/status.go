package kubectlprivacy

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// redacted replaces every identity value in a printed object.
const redacted = "<redacted>"

func newStatusCommand(o *options) *cobra.Command {
	printFlags := genericclioptions.NewJSONYamlPrintFlags()
	var output string
	cmd := &cobra.Command{
		Use:   "status REQUEST",
		Short: "Show a PrivacyRequest and each source's job as a tree",
		Long: "Shows the request's phase, due date, progress, requester, approval, legal holds and receipt, then\n" +
			"each source's phase, attempts, next attempt, reason and message. -o json|yaml prints the object\n" +
			"itself, its identities replaced by " + redacted + ".",
		Example: "  kubectl privacy status delete-ada\n  kubectl privacy status delete-ada -o yaml",
		Args:    exactArgs(1, "one PrivacyRequest name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := o.clock()
			if err != nil {
				return usageError(err)
			}
			if output != "" && output != "json" && output != "yaml" {
				return usageError(fmt.Errorf("-o: want json or yaml"))
			}
			_, u, pr, err := o.request(cmd, args[0])
			if err != nil {
				return err
			}
			if output != "" {
				redactIdentities(u)
				p, err := printFlags.ToPrinter(output)
				if err != nil {
					return usageError(err)
				}
				return p.PrintObj(u, o.streams.Out)
			}
			writeTree(o.streams.Out, pr, now, painter(o.color()))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the object as json or yaml instead of the tree")
	printFlags.AddFlags(cmd)
	return cmd
}

// request connects as the caller and reads the PrivacyRequest name as
// unstructured (what the printers print, with its apiVersion and kind) and
// as the typed object.
func (o *options) request(cmd *cobra.Command, name string) (client.Client, *unstructured.Unstructured, *privacyv1alpha1.PrivacyRequest, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, nil, &exitError{code: ExitError, err: err}
	}
	u, pr, err := getRequest(cmd, c, name)
	return c, u, pr, err
}

// getRequest reads a PrivacyRequest as unstructured and typed.
func getRequest(cmd *cobra.Command, c client.Client, name string) (*unstructured.Unstructured, *privacyv1alpha1.PrivacyRequest, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind("PrivacyRequest"))
	if err := c.Get(cmd.Context(), client.ObjectKey{Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("privacyrequest %q not found (PrivacyRequests are cluster-scoped: kubectl get privacyrequests lists them)", name)}
		}
		if meta.IsNoMatchError(err) {
			return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("this cluster has no PrivacyRequest kind: is Privacy Operator installed? (%w)", err)}
		}
		return nil, nil, &exitError{code: ExitError, err: err}
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pr); err != nil {
		return nil, nil, &exitError{code: ExitError, err: fmt.Errorf("read privacyrequest %q: %w", name, err)}
	}
	return u, pr, nil
}

// redactIdentities replaces the personal data of a request before it is
// printed (a status is shown in terminals, tickets and CI logs): the
// identity values of spec.subject and the new values of spec.corrections
// (a new e-mail address is an identity too), and it drops what copies the
// spec whole (kubectl's last-applied-configuration annotation,
// managedFields). Identity types and corrected field names stay: they
// say what was asked.
func redactIdentities(u *unstructured.Unstructured) {
	redactValues(u, []string{"spec", "subject", "identities"}, []string{"spec", "corrections"})
	annotations := u.GetAnnotations()
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	u.SetAnnotations(annotations)
	u.SetManagedFields(nil)
}

// redactValues replaces the values of the map at identities and the
// "value" of each item of the list at corrections.
func redactValues(u *unstructured.Unstructured, identities, corrections []string) {
	if ids, found, _ := unstructured.NestedMap(u.Object, identities...); found {
		for k := range ids {
			ids[k] = redacted
		}
		_ = unstructured.SetNestedMap(u.Object, ids, identities...)
	}
	if list, found, _ := unstructured.NestedSlice(u.Object, corrections...); found {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				m["value"] = redacted
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, list, corrections...)
	}
}

// printable replaces control characters (a data source's message could
// hold escape sequences or line breaks that fake a line of the tree), and
// the line separators and bidirectional controls that move or reorder
// text on a terminal without being control characters.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r),
			r == '\u2028', r == '\u2029', // line and paragraph separators
			r == '\u061c', r == '\u200e', r == '\u200f', // bidi marks
			r >= '\u202a' && r <= '\u202e', // bidi embeddings and overrides
			r >= '\u2066' && r <= '\u2069': // bidi isolates
			return '?'
		}
		return r
	}, s)
}

// approvable says what an approval of the request approves, without
// personal data: the subject's kind and identity types, the corrected
// fields, the opt-out scopes and the selectors.
func approvable(pr *privacyv1alpha1.PrivacyRequest) [][2]string {
	var rows [][2]string
	sub := pr.Spec.Subject
	switch {
	case sub.SecretRef != nil:
		subject := fmt.Sprintf("Secret %s/%s", sub.SecretRef.Namespace, sub.SecretRef.Name)
		if fixed := pr.Status.Subject; fixed != nil {
			subject += fmt.Sprintf(" (fixed %s: %s)", fixed.FixedAt.UTC().Format(time.RFC3339), strings.Join(fixed.IdentityTypes, ", "))
		}
		rows = append(rows, [2]string{"subject", subject})
	default:
		types := make([]string, 0, len(sub.Identities))
		for t := range sub.Identities {
			types = append(types, t)
		}
		sort.Strings(types)
		rows = append(rows, [2]string{"subject", "identities " + strings.Join(types, ", ")})
	}
	if len(pr.Spec.Corrections) > 0 {
		fields := make([]string, 0, len(pr.Spec.Corrections))
		for _, c := range pr.Spec.Corrections {
			fields = append(fields, c.Field)
		}
		rows = append(rows, [2]string{"corrects", strings.Join(fields, ", ")})
	}
	if o := pr.Spec.OptOut; o != nil && len(o.Scopes) > 0 {
		rows = append(rows, [2]string{"optOut", strings.Join(o.Scopes, ", ")})
	}
	for _, sel := range []struct {
		name string
		s    *metav1.LabelSelector
	}{{"sources", pr.Spec.DataSourceSelector}, {"namespaces", pr.Spec.NamespaceSelector}} {
		if sel.s != nil {
			rows = append(rows, [2]string{sel.name, metav1.FormatLabelSelector(sel.s)})
		}
	}
	return rows
}

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
