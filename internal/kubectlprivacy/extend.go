package kubectlprivacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// maxReasonLength is spec.extension.reason's bound in the API.
const maxReasonLength = 1024

func newExtendCommand(o *options) *cobra.Command {
	var days int
	var reason string
	cmd := &cobra.Command{
		Use:   "extend REQUEST --days N --reason TEXT",
		Short: "Move an unfinished PrivacyRequest's due date, as the regulations allow for complex requests",
		Long: "Sets spec.extension (days, reason) in one merge patch carrying the version read. The API refuses more than the\n" +
			"regulation allows (GDPR: 60 days; CCPA: 45 days, none for an opt-out; docs/deadlines.md). An extension is\n" +
			"set once: it is the record, kept in the receipt for 24 months, so write no personal data in the reason.\n" +
			"The regulations also ask you to tell the person, with the reason, within the first period.",
		Example: `  kubectl privacy extend access-4711 --days 30 --reason "records in three archives; identity check pending"`,
		Args:    exactArgs(1, "one PrivacyRequest name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			reason = strings.TrimSpace(reason)
			switch {
			case days <= 0:
				return usageError(errors.New("--days is required: how many days the due date moves (1 or more)"))
			case reason == "":
				return usageError(errors.New("--reason is required: why the request needs more time (no personal data)"))
			case len(reason) > maxReasonLength:
				return usageError(fmt.Errorf("--reason is %d characters; at most %d", len(reason), maxReasonLength))
			}
			c, _, pr, err := o.request(cmd, args[0])
			if err != nil {
				return err
			}
			if ext := pr.Spec.Extension; ext != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s was already extended by %d days (%s): an extension is set once",
					pr.Name, ext.Days, printable(ext.Reason))}
			}
			switch pr.Status.Phase {
			case privacyv1alpha1.RequestPhaseCompleted, privacyv1alpha1.RequestPhaseFailed, privacyv1alpha1.RequestPhaseCancelled:
				return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s is %s: a finished request's account is closed, its due date no longer moves", pr.Name, pr.Status.Phase)}
			}
			if err := patchExtension(cmd, c, pr, privacyv1alpha1.Extension{Days: int32(days), Reason: reason}); err != nil {
				return err
			}
			msg := fmt.Sprintf("privacyrequest/%s extended by %d days", pr.Name, days)
			if due := pr.Status.DueAt; due != nil {
				msg += fmt.Sprintf(": due %s instead of %s", due.Add(time.Duration(days)*24*time.Hour).UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(o.streams.Out, msg)
			return nil
		},
	}
	cmd.Flags().IntVar(&days, "days", 0, "days the due date moves (the regulation bounds them)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the request needs more time; kept in the receipt (no personal data)")
	return cmd
}

// patchExtension sets spec.extension under an optimistic lock: a request
// changed since it was read is not extended unseen.
func patchExtension(cmd *cobra.Command, c client.Client, pr *privacyv1alpha1.PrivacyRequest, ext privacyv1alpha1.Extension) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": pr.ResourceVersion},
		"spec":     map[string]any{"extension": ext},
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	err = c.Patch(cmd.Context(), pr, client.RawPatch(types.MergePatchType, patch))
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s changed while it was being extended: look at it again (kubectl privacy status %s) and extend again", pr.Name, pr.Name)}
	case apierrors.IsInvalid(err):
		// The regulation's bound, as the API words it (no value of the
		// request is in it).
		return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s: the API refused the extension: %s", pr.Name, apiCauses(err))}
	}
	return &exitError{code: ExitError, err: err}
}

// apiCauses is an Invalid error's causes, one per clause.
func apiCauses(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 {
		return err.Error()
	}
	var msgs []string
	for _, c := range status.Status().Details.Causes {
		msgs = append(msgs, strings.TrimPrefix(c.Message, "Invalid value: "))
	}
	return strings.Join(msgs, "; ")
}
