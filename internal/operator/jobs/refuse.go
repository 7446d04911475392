package jobs

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Refuse ends an entry Refused: the source, or the person doing a manual
// source's task, declined the job under the exemption named. Like Held it
// is not a failure: the owner's account lists the source as refused, with
// its basis. A refusal without a basis (or with one longer than the API
// keeps) fails the entry instead, as does any refusal while exemptions are
// barred (BarExemptions).
func (p *Pass) Refuse(e *Entry, exemption, message string) Change {
	exemption = strings.TrimSpace(exemption)
	switch {
	case exemption == "":
		return p.Fail(e, privacyv1alpha1.ReasonSourceFailed,
			"The source refused the job without naming the exemption it relies on; a refusal must name its basis.")
	case len(exemption) > protocol.MaxExemption:
		return p.Fail(e, privacyv1alpha1.ReasonSourceFailed,
			"The source refused the job with an exemption longer than 256 bytes; a refusal must name its basis briefly.")
	case p.exemptionsBarred != "":
		return p.Fail(e, privacyv1alpha1.ReasonExemptionNotAllowed,
			truncate("The source refused the job under "+exemption+", but "+p.exemptionsBarred, maxMessage))
	}
	e.Phase = privacyv1alpha1.SourcePhaseRefused
	e.Exemption = exemption
	e.NextAttemptAt = nil
	e.Message = truncate(message, maxMessage)
	conditions.Remove(&e.Conditions, privacyv1alpha1.SourceConditionDispatched)
	p.setCompleted(e, metav1.ConditionFalse, privacyv1alpha1.ReasonRefusedUnderExemption,
		truncate("Refused under "+exemption+".", maxMessage))
	return Change{Ended: true, Reason: privacyv1alpha1.ReasonRefusedUnderExemption, Message: "Refused under " + exemption}
}
