package kubectlprivacy

import (
	"fmt"
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
		Example: "  kubectl privacy status delete-2026-0004\n  kubectl privacy status delete-2026-0004 -o yaml",
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
