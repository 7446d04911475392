package intake

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// PurposeStatus seals a request's status link.
const PurposeStatus = "request-status"

// States of a request as the person is told them.
const (
	StateReceived  = "received"
	StateReview    = "review"
	StateCompleted = "completed"
	StateHeld      = "held"
	StateRefused   = "refused"
	StateFailed    = "failed"
)

// StateOf tells pr's state in the person's terms, with the legal bases of
// refusals (deduplicated; never a source's name or message).
func StateOf(pr *privacyv1alpha1.PrivacyRequest) (state string, bases []string) {
	ready := meta.FindStatusCondition(pr.Status.Conditions, privacyv1alpha1.ConditionReady)
	reason := ""
	if ready != nil {
		reason = ready.Reason
	}
	switch {
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseFailed:
		return StateFailed, nil
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted && reason == privacyv1alpha1.ReasonCompletedWithRefusals:
		for _, src := range pr.Status.Sources {
			if src.Exemption != "" && !slices.Contains(bases, src.Exemption) {
				bases = append(bases, src.Exemption)
			}
		}
		return StateRefused, bases
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted && reason == privacyv1alpha1.ReasonCompletedWithHolds:
		return StateHeld, nil
	case pr.Status.Phase == privacyv1alpha1.RequestPhaseCompleted:
		return StateCompleted, nil
	case pr.Spec.Suspend:
		return StateReview, nil
	}
	return StateReceived, nil
}

// Kept tells, one line per basis, what legal holds kept from pr and why,
// in the person's language (t): "contact, invoices: <basis>", the law in
// general when a hold gives no basis. Nil when nothing was kept.
func Kept(pr *privacyv1alpha1.PrivacyRequest, t func(id string, args ...string) string) []string {
	var lines []string
	for _, k := range pr.Status.Kept {
		basis := k.Basis
		if basis == "" {
			basis = t("kept.law")
		}
		cats := make([]string, len(k.Categories))
		for i, c := range k.Categories {
			cats[i] = string(c)
		}
		if len(cats) == 0 {
			lines = append(lines, basis)
			continue
		}
		lines = append(lines, t("kept.line", "categories", strings.Join(cats, ", "), "basis", basis))
	}
	return lines
}
