package kubectlprivacy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/deadline"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
)

// defaultSubjectNamespace is the operator's own namespace, the default of
// its --subject-secret-namespaces.
const defaultSubjectNamespace = "privacy-operator-system"

// The API's patterns (api/v1alpha1), checked here so that a mistake is
// refused before anything is created.
var (
	identityTypePattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9]{0,62}$`)
	fieldPattern        = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,252}(\.[a-zA-Z][a-zA-Z0-9_]*)*$`)
	labelPattern        = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// flagInError finds the flag a pflag error is about.
	flagInError = regexp.MustCompile(`^(unknown flag|flag needs an argument): (--[a-z][-a-z]*)|for "(?:-., )?(--[a-z][-a-z]*)" flag`)
)

// createFlags are what the request asks; whom it is about is never among them.
type createFlags struct {
	typ, regulation, receivedAt, deadline, sources, namespaces, subjectNS, prefix, output string
	identityTypes, fields, scopes, identities                                             []string
	suspend, child, stdin, dryRun, prompt                                                 bool
	ttl                                                                                   int64
}

func newCreateCommand(o *options) *cobra.Command {
	f := &createFlags{}
	printFlags := genericclioptions.NewJSONYamlPrintFlags()
	cmd := &cobra.Command{
		Use:   "create --type Access|Delete|Correct|OptOut [--regulation GDPR|CCPA|Other] [--identity-stdin] [flags]",
		Short: "Create a PrivacyRequest, its subject's identities in a labelled Secret that is deleted with it",
		Long: "Creates the subject Secret (labelled " + privacyv1alpha1.LabelSubjectSecret + "=true, immutable) in --subject-namespace, then\n" +
			"the PrivacyRequest naming it (spec.subject.secretRef, spec.requester: you), then makes the request the Secret's\n" +
			"owner, so that Kubernetes deletes the Secret with the request. The name is generated (TYPE-YYYYMMDD-xxxxx) and\n" +
			"carries no personal data. If the request cannot be created, its Secret is deleted again.\n\n" +
			"The identities are never taken from the command line (it is kept in shell history and shown in the process\n" +
			"list): they are asked for on the terminal (--identity-types names the prompts), or read with --identity-stdin\n" +
			"as type=value lines, the format of kubectl privacy fingerprint --identity-stdin. A Correct request's new values\n" +
			"are read the same way, as lines correct.FIELD=value for each --correct FIELD; the API keeps them in the\n" +
			"request's spec.corrections. Nothing personal is printed. Exit codes: 0 created, 2 usage or API errors.",
		Example: "  printf 'email=ada@example.com\\nuserId=1815\\n' | kubectl privacy create --type Access --identity-stdin\n" +
			"  kubectl privacy create --type Delete --regulation CCPA --received-at 2026-11-30 --suspend\n" +
			"  kubectl privacy create --type Correct --correct email --identity-stdin < ada.txt   # email=... and correct.email=...",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				// Not shown: what was typed there may be an identity.
				return usageError(fmt.Errorf("create takes no arguments, got %d (not shown: they may hold personal data); identities are read from the prompt or --identity-stdin", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCreate(cmd, o, f, printFlags)
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "", "Access, Delete, Correct or OptOut (required)")
	fl.StringVar(&f.regulation, "regulation", string(privacyv1alpha1.RegulationGDPR), "GDPR, CCPA or Other: with the type it decides the due date (docs/deadlines.md)")
	fl.StringVar(&f.receivedAt, "received-at", "", "when the request reached you, if before today: YYYY-MM-DD (midnight UTC) or RFC 3339; the deadline counts from it")
	fl.StringVar(&f.deadline, "deadline", "", "a due date that replaces the regulation's: YYYY-MM-DD (midnight UTC) or RFC 3339")
	fl.BoolVar(&f.suspend, "suspend", false, "send nothing until a reviewer approves it (kubectl privacy approve)")
	fl.BoolVar(&f.child, "child", false, "with --type Delete: the data of a child under 16, due within 7 days")
	fl.StringArrayVar(&f.fields, "correct", nil, "with --type Correct: a field to change (email, address.city); repeat for more. Its new value is read as the identities are")
	fl.StringArrayVar(&f.scopes, "scope", nil, "with --type OptOut: a processing to stop (email-marketing, profiling, sale); repeat for more. Default: email-marketing")
	fl.StringVar(&f.sources, "source-selector", "", "only DataSources with these labels (a label selector, as kubectl -l)")
	fl.StringVar(&f.namespaces, "namespace-selector", "", "only DataSources in namespaces with these labels")
	fl.Int64Var(&f.ttl, "ttl-seconds-after-finished", -1, "delete the request (and its Secret) this long after it finished. Default: the operator's --request-ttl")
	fl.BoolVar(&f.stdin, "identity-stdin", false, "read the identities (and correct.FIELD values) from standard input, one type=value a line")
	fl.StringSliceVar(&f.identityTypes, "identity-types", []string{"email"}, "the identity types to ask for on the terminal; an empty answer skips one")
	fl.StringVar(&f.subjectNS, "subject-namespace", defaultSubjectNamespace, "the subject Secret's namespace: one of the operator's --subject-secret-namespaces")
	fl.StringVar(&f.prefix, "name-prefix", "", "the generated name's prefix instead of the type, e.g. a ticket number (no personal data)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "have the API server check both objects (server-side dry run) and create nothing")
	fl.StringVarP(&f.output, "output", "o", "", "name, json or yaml (the request, its correction values redacted) instead of the summary")
	fl.StringArrayVar(&f.identities, "identity", nil, "refused: identities are never taken from the command line")
	fl.BoolVar(&f.prompt, "prompt", false, "ask on standard input even when it is not a terminal (tests)")
	_ = fl.MarkHidden("identity")
	_ = fl.MarkHidden("prompt")
	return cmd
}

func runCreate(cmd *cobra.Command, o *options, f *createFlags, printFlags *genericclioptions.JSONYamlPrintFlags) error {
	if len(f.identities) > 0 {
		return usageError(errors.New("--identity is refused (its value is not shown): a command line is kept in your shell's history and shown " +
			"in the process list, so remove it from your history; pipe type=value lines with --identity-stdin, or answer the prompt"))
	}
	now := time.Now() // never --now: the API server's clock decides what the request's dates mean
	spec, err := f.spec(now, cmd.Flags().Changed)
	if err != nil {
		return usageError(err)
	}
	read, err := f.read(o)
	if err != nil {
		return usageError(err)
	}
	ids, corrections, err := split(read, f.fields)
	if err != nil {
		return usageError(err)
	}
	spec.Corrections = corrections
	c, err := o.client()
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if spec.Requester, err = whoAmI(cmd, c); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	pr, err := createBoth(cmd.Context(), c, f, spec, ids, now)
	switch {
	case pr == nil:
		return err
	case err != nil: // created, but its Secret is not owned by it: err says what to do
		_ = printRequest(printFlags, "name", o.streams.Out, pr)
		return err
	case f.output != "":
		return printRequest(printFlags, f.output, o.streams.Out, pr)
	}
	printSummary(o.streams.Out, pr, f.dryRun, ids)
	return nil
}

// spec checks the flags and builds what the request asks, before anything
// is read or sent; the subject and the corrections' values come later.
// Values are named by their flag, not shown: one typed in the wrong place
// may be personal. changed says whether a flag was given.
func (f *createFlags) spec(now time.Time, changed func(string) bool) (privacyv1alpha1.PrivacyRequestSpec, error) {
	spec := privacyv1alpha1.PrivacyRequestSpec{Suspend: f.suspend, Child: f.child}
	for _, t := range []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete,
		privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut} {
		if strings.EqualFold(f.typ, string(t)) {
			spec.Type = t
		}
	}
	for _, r := range []privacyv1alpha1.Regulation{privacyv1alpha1.RegulationGDPR, privacyv1alpha1.RegulationCCPA, privacyv1alpha1.RegulationOther} {
		if strings.EqualFold(f.regulation, string(r)) {
			spec.Regulation = r
		}
	}
	switch {
	case f.typ == "":
		return spec, errors.New("--type is required: Access, Delete, Correct or OptOut")
	case spec.Type == "":
		return spec, errors.New("--type: want Access, Delete, Correct or OptOut")
	case spec.Regulation == "":
		return spec, errors.New("--regulation: want GDPR, CCPA or Other")
	case spec.Type == privacyv1alpha1.RequestTypeCorrect && len(f.fields) == 0:
		return spec, errors.New("--correct is required with --type Correct: corrections are required when type is Correct, name each field to change")
	case spec.Type != privacyv1alpha1.RequestTypeCorrect && len(f.fields) > 0:
		return spec, errors.New("--correct is only for --type Correct: corrections are only allowed when type is Correct")
	case spec.Type != privacyv1alpha1.RequestTypeOptOut && len(f.scopes) > 0:
		return spec, errors.New("--scope is only for --type OptOut: optOut is only allowed when type is OptOut")
	case f.child && spec.Type != privacyv1alpha1.RequestTypeDelete:
		return spec, errors.New("--child marks a Delete of a child's data: only --type Delete may set it")
	case changed("namespace"):
		return spec, errors.New("-n does not apply: PrivacyRequests are cluster-scoped; the subject Secret's namespace is --subject-namespace")
	case f.stdin && changed("identity-types"):
		return spec, errors.New("--identity-types names the prompts; with --identity-stdin each line names its type")
	case !slices.Contains([]string{"", "name", "json", "yaml"}, f.output):
		return spec, errors.New("-o: want name, json or yaml")
	case !labelPattern.MatchString(f.subjectNS):
		return spec, errors.New("--subject-namespace: want a namespace name")
	case f.prefix != "" && (!labelPattern.MatchString(f.prefix) || len(f.prefix) > 40):
		return spec, errors.New("--name-prefix: want lower case letters, digits and '-', at most 40 characters")
	case f.ttl < -1 || f.ttl > 1<<31-1:
		return spec, errors.New("--ttl-seconds-after-finished: want 0 to 2147483647 seconds")
	case f.stdin && f.prompt:
		return spec, errors.New("--identity-stdin and --prompt: choose one")
	}
	for _, names := range []struct {
		flag, want string
		values     []string
		pattern    *regexp.Regexp
		max        int
	}{
		{"--correct", "a field name such as email or address.city, at most 253 characters", f.fields, fieldPattern, 64},
		{"--scope", "a scope such as email-marketing, at most 63 characters", f.scopes, labelPattern, 16},
		{"--identity-types", "camelCase identity types such as email,userId", f.identityTypes, identityTypePattern, identity.MaxIdentities},
	} {
		if err := checkNames(names.flag, names.want, names.values, names.pattern, names.max); err != nil {
			return spec, err
		}
	}
	if len(f.scopes) > 0 {
		spec.OptOut = &privacyv1alpha1.OptOutSpec{Scopes: f.scopes}
	}
	if f.ttl >= 0 {
		spec.TTLSecondsAfterFinished = ptr(int32(f.ttl))
	}
	var err error
	if spec.ReceivedAt, err = parseDate("--received-at", f.receivedAt); err != nil {
		return spec, err
	}
	if r := spec.ReceivedAt; r != nil && r.Time.After(now.Add(deadline.ReceivedAtSkew)) {
		return spec, errors.New("--received-at is in the future: a request is recorded when or after it arrives")
	} else if r != nil && r.Time.Before(now.Add(-deadline.ReceivedAtMaxAge)) {
		return spec, errors.New("--received-at is more than 366 days ago: check the year")
	}
	if spec.Deadline, err = parseDate("--deadline", f.deadline); err != nil {
		return spec, err
	}
	if d := spec.Deadline; d != nil && !d.Time.After(now) {
		return spec, errors.New("--deadline has passed: a due date is in the future")
	}
	for _, sel := range []struct {
		flag, value string
		into        **metav1.LabelSelector
	}{{"--source-selector", f.sources, &spec.DataSourceSelector}, {"--namespace-selector", f.namespaces, &spec.NamespaceSelector}} {
		if sel.value == "" {
			continue
		}
		if *sel.into, err = metav1.ParseToLabelSelector(sel.value); err != nil {
			return spec, fmt.Errorf("%s: want a label selector such as team=shop,tier!=test", sel.flag)
		}
	}
	return spec, nil
}

// checkNames checks the values of a repeated flag: each matches pattern
// (which bounds its length), none twice, at most maxItems; want says what
// one looks like.
func checkNames(flag, want string, values []string, pattern *regexp.Regexp, maxItems int) error {
	if len(values) > maxItems {
		return fmt.Errorf("%s is given %d times; at most %d", flag, len(values), maxItems)
	}
	for i, v := range values {
		switch {
		case !pattern.MatchString(v):
			return fmt.Errorf("%s number %d: want %s (the value is not shown)", flag, i+1, want)
		case slices.Contains(values[:i], v):
			return fmt.Errorf("%s %s is given twice", flag, v)
		}
	}
	return nil
}

// parseDate reads a date flag: YYYY-MM-DD (midnight UTC) or RFC 3339.
func parseDate(flag, s string) (*metav1.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fmt.Errorf("%s: want YYYY-MM-DD or an RFC 3339 time", flag)
		}
	}
	return ptr(metav1.NewTime(t.UTC().Truncate(time.Second))), nil
}

// printSummary says what was created and what happens next, without
// personal data: identity types and field names, never values.
func printSummary(w io.Writer, pr *privacyv1alpha1.PrivacyRequest, dryRun bool, ids map[string]string) {
	if dryRun {
		fmt.Fprintf(w, "privacyrequest/%s and its subject Secret pass the API server's checks (dry run): nothing was created\n", pr.Name)
		return
	}
	due, overdue := deadline.DueAt(pr.Spec, pr.CreationTimestamp.Time), ""
	if due.Before(pr.CreationTimestamp.Time) {
		overdue = " (passed already: it is overdue from the start)"
	}
	fmt.Fprintf(w, "privacyrequest/%s created: %s under %s, due %s%s\n", pr.Name, pr.Spec.Type, pr.Spec.Regulation, due.Format(time.RFC3339), overdue)
	ref, types := pr.Spec.Subject.SecretRef, slices.Sorted(maps.Keys(ids))
	rows := [][2]string{{"subject", fmt.Sprintf("Secret %s/%s (%s), deleted with the request", ref.Namespace, ref.Name, strings.Join(types, ", "))}}
	rows = append(rows, approvable(pr)[1:]...) // its first row is the subject, said above with the types read
	next := "the operator sends its jobs to the data sources now"
	if pr.Spec.Suspend {
		next = "suspended, nothing is sent until a reviewer approves it (with four-eyes, not you): kubectl privacy approve " + pr.Name + " --reason TEXT"
	}
	rows = append(rows, [2]string{"next", next}, [2]string{"follow", "kubectl privacy status " + pr.Name})
	for _, row := range rows {
		fmt.Fprintf(w, "%-11s %s\n", row[0]+":", row[1])
	}
}

// printRequest prints the request as name, json or yaml, redacted as
// status -o redacts it.
func printRequest(printFlags *genericclioptions.JSONYamlPrintFlags, output string, w io.Writer, pr *privacyv1alpha1.PrivacyRequest) error {
	if output == "name" {
		fmt.Fprintf(w, "privacyrequest/%s\n", pr.Name)
		return nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind("PrivacyRequest"))
	redactIdentities(u)
	p, err := printFlags.ToPrinter(output)
	if err != nil {
		return usageError(errors.New("-o: want name, json or yaml"))
	}
	return p.PrintObj(u, w)
}

// flagError words a mistake of create's command line without what was
// typed (a value in the wrong place may be an identity): the flag's name
// when pflag names it.
func flagError(_ *cobra.Command, err error) error {
	switch m := flagInError.FindStringSubmatch(err.Error()); {
	case m == nil:
	case m[1] == "unknown flag":
		return usageError(fmt.Errorf("unknown flag %s", m[2]))
	case m[1] != "":
		return usageError(fmt.Errorf("flag %s needs a value", m[2]))
	default:
		return usageError(fmt.Errorf("flag %s: the value is not valid (not shown)", m[3]))
	}
	return usageError(errors.New("the command line is not valid (not shown: it may hold personal data)"))
}
