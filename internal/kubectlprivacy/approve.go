package kubectlprivacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func newApproveCommand(o *options) *cobra.Command {
	var reason, resourceVersion string
	cmd := &cobra.Command{
		Use:   "approve REQUEST --reason TEXT",
		Short: "Approve a suspended PrivacyRequest in your own name",
		Long: "Clears spec.suspend and records spec.approval (approver: you, as the API server authenticates you;\n" +
			"the reason; approvedAt: now) in one merge patch, which is what the approval admission policy admits.\n" +
			"The reason is kept in the request's receipt for 24 months: write no personal data in it.",
		Example: `  kubectl privacy approve delete-2026-0004 --reason "identity verified by the desk"`,
		Args:    exactArgs(1, "one PrivacyRequest name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			reason = strings.TrimSpace(reason)
			if reason == "" {
				return usageError(errors.New("--reason is required: why the request may proceed (no personal data)"))
			}
			// The approval's time is the wall clock's, never a flag's:
			// it goes into the signed receipt.
			now := time.Now()
			c, _, pr, err := o.request(cmd, args[0])
			if err != nil {
				return err
			}
			if resourceVersion != "" && resourceVersion != pr.ResourceVersion {
				return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s changed since version %s (it is at %s): look at it again (kubectl privacy status %s) and approve what it is now",
					pr.Name, resourceVersion, pr.ResourceVersion, pr.Name)}
			}
			if !pr.Spec.Suspend {
				msg := fmt.Sprintf("privacyrequest/%s is not suspended: there is nothing to approve", pr.Name)
				if a := pr.Spec.Approval; a != nil {
					msg += fmt.Sprintf(" (approved by %s at %s)", a.Approver, a.ApprovedAt.UTC().Format(time.RFC3339))
				}
				return &exitError{code: ExitError, err: errors.New(msg)}
			}
			user, err := whoAmI(cmd, c)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if a := pr.Spec.Approval; a != nil {
				// Suspended again after an approval: the approval stands
				// (it is immutable); only its approver may resume.
				if err := patchResume(cmd, c, pr); err != nil {
					return err
				}
				fmt.Fprintf(o.streams.Out, "privacyrequest/%s resumed by %s (approved by %s at %s)\n", pr.Name, user, a.Approver, a.ApprovedAt.UTC().Format(time.RFC3339))
				return nil
			}
			if err := patchApproval(cmd, c, pr, privacyv1alpha1.Approval{
				Approver: user, Reason: reason, ApprovedAt: metav1.NewTime(now.UTC().Truncate(time.Second)),
			}); err != nil {
				return err
			}
			fmt.Fprintf(o.streams.Out, "privacyrequest/%s approved by %s\n", pr.Name, user)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the request may proceed, kept in its receipt (required; no personal data)")
	cmd.Flags().StringVar(&resourceVersion, "resource-version", "",
		"approve only if the request is still at this version (the one kubectl privacy status showed you); a request changed since is refused")
	return cmd
}

// whoAmI asks the API server who the caller is, as kubectl auth whoami
// does: the approval must name the user the admission policy sees
// (request.userInfo.username), not a name read from the kubeconfig.
func whoAmI(cmd *cobra.Command, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(cmd.Context(), review); err != nil {
		return "", fmt.Errorf("ask the API server who you are (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", errors.New("the API server did not say who you are (SelfSubjectReview without a username)")
	}
	return review.Status.UserInfo.Username, nil
}

// patchResume clears suspend of a request approved before, under an
// optimistic lock as patchApproval.
func patchResume(cmd *cobra.Command, c client.Client, pr *privacyv1alpha1.PrivacyRequest) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": pr.ResourceVersion},
		"spec":     map[string]any{"suspend": false},
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	return patchError(pr, c.Patch(cmd.Context(), pr, client.RawPatch(types.MergePatchType, patch)))
}

// patchApproval clears suspend and sets the approval in one merge patch.
// The patch carries the resourceVersion read, so that a change made since
// (another reviewer, an edit of what is approved) fails with a conflict
// instead of being approved unseen.
func patchApproval(cmd *cobra.Command, c client.Client, pr *privacyv1alpha1.PrivacyRequest, a privacyv1alpha1.Approval) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": pr.ResourceVersion},
		"spec":     map[string]any{"suspend": false, "approval": a},
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	return patchError(pr, c.Patch(cmd.Context(), pr, client.RawPatch(types.MergePatchType, patch)))
}

// patchError words a patch's failure: a conflict means the request
// changed since it was read; the admission policies' refusals say what to
// do and are printed as they are.
func patchError(pr *privacyv1alpha1.PrivacyRequest, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		return &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s changed while it was being approved: look at it again (kubectl privacy status %s) and approve again", pr.Name, pr.Name)}
	}
	return &exitError{code: ExitError, err: err}
}
