package drp

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// ExerciseStatus is the protocol's status of a request (section 3.03).
type ExerciseStatus struct {
	RequestID           string `json:"request_id"`
	AgentRequestID      string `json:"agent_request_id,omitempty"`
	Status              string `json:"status"`
	Reason              string `json:"reason,omitempty"`
	ReceivedAt          string `json:"received_at,omitempty"`
	ExpectedBy          string `json:"expected_by,omitempty"`
	ProcessingDetails   string `json:"processing_details,omitempty"`
	UserVerificationURL string `json:"user_verification_url,omitempty"`
	ResultsURL          string `json:"results_url,omitempty"`
	ExpiresAt           string `json:"expires_at,omitempty"`
}

// The protocol's statuses and reasons (section 3.02).
const (
	StatusOpen       = "open"
	StatusInProgress = "in_progress"
	StatusFulfilled  = "fulfilled"
	StatusRevoked    = "revoked"
	StatusDenied     = "denied"
	StatusExpired    = "expired"

	ReasonNeedUserVerification = "need_user_verification"
	ReasonInsufVerification    = "insuf_verification"
	ReasonNoMatch              = "no_match"
	ReasonClaimNotCovered      = "claim_not_covered"
	ReasonOther                = "other"
)

// timestamp writes t as the status answers carry it: UTC with "+00:00",
// which every ISO 8601 parser reads (Python's fromisoformat before 3.11
// refuses "Z").
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05+00:00")
}

// Describer tells a request's state in the protocol's terms.
type Describer struct {
	// ResultsURL is where the person collects an Access request's data:
	// the privacy center's status page, which hands the export over only
	// after a fresh code sent to the person's address (so the link gives
	// the agent nothing of the data). Nil: no results_url.
	ResultsURL func(name string) (string, error)
}

// Status is pr's Exercise Status. The mapping is docs/drp.md's table.
func (d Describer) Status(pr *privacyv1alpha1.PrivacyRequest) ExerciseStatus {
	st := ExerciseStatus{RequestID: pr.Name, AgentRequestID: pr.Annotations[AnnotationAgentRequestID], Status: StatusInProgress}
	received := pr.CreationTimestamp.Time
	if pr.Spec.ReceivedAt != nil {
		received = pr.Spec.ReceivedAt.Time
	}
	st.ReceivedAt = timestamp(received)
	if pr.Status.DueAt != nil {
		st.ExpectedBy = timestamp(pr.Status.DueAt.Time)
	}
	if pr.Spec.Extension != nil {
		st.ProcessingDetails = "The due date was extended: " + pr.Spec.Extension.Reason
	}
	state, bases := intake.StateOf(pr)
	switch {
	case !pr.DeletionTimestamp.IsZero():
		st.Status, st.ProcessingDetails = StatusRevoked, ""
	case pr.Status.Phase == "":
		// Filed, not yet taken up by the operator.
		st.Status, st.ExpectedBy = StatusOpen, ""
	case state == intake.StateReview:
		st.ProcessingDetails = "The request is being reviewed before the company acts on it."
	case state == intake.StateCompleted:
		st.Status = StatusFulfilled
		if nothingFound(pr) {
			st.ProcessingDetails = "The company holds no data matching the identities given."
		}
		d.results(pr, &st)
	case state == intake.StateHeld:
		st.Status, st.ProcessingDetails = StatusFulfilled, "Done in part: some data is kept under a legal obligation"+keptDetails(pr)+"."
		d.results(pr, &st)
	case state == intake.StateRefused && !anyActed(pr):
		st.Status, st.Reason = StatusDenied, ReasonClaimNotCovered
		st.ProcessingDetails = "The law allows the company to keep this data: " + strings.Join(bases, "; ")
	case state == intake.StateRefused:
		st.Status, st.ProcessingDetails = StatusFulfilled, "Done in part: some data is kept as the law allows: "+strings.Join(bases, "; ")
		d.results(pr, &st)
	case state == intake.StateFailed:
		st.Status, st.Reason, st.ProcessingDetails = StatusDenied, ReasonOther, "The company could not complete the request; its privacy team follows up."
		if c := meta.FindStatusCondition(pr.Status.Conditions, privacyv1alpha1.ConditionReady); c != nil && c.Reason == privacyv1alpha1.ReasonDeadlineExceeded {
			st.ProcessingDetails = "The company could not complete the request by its due date; its privacy team follows up."
		}
	}
	return st
}

// results adds where and until when a fulfilled request's results are
// there: an Access request's export, through the privacy center.
func (d Describer) results(pr *privacyv1alpha1.PrivacyRequest, st *ExerciseStatus) {
	exp := pr.Status.Export
	if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess || exp == nil || d.ResultsURL == nil {
		return
	}
	if u, err := d.ResultsURL(pr.Name); err == nil {
		st.ResultsURL, st.ExpiresAt = u, timestamp(exp.ExpiresAt.Time)
	}
}

// nothingFound: every source answered that it holds nothing.
func nothingFound(pr *privacyv1alpha1.PrivacyRequest) bool {
	if len(pr.Status.Sources) == 0 {
		return false
	}
	for _, s := range pr.Status.Sources {
		if s.Phase != privacyv1alpha1.SourcePhaseNotFound {
			return false
		}
	}
	return true
}

// anyActed: some source did what was asked (a refusal elsewhere makes the
// request done in part, not denied).
func anyActed(pr *privacyv1alpha1.PrivacyRequest) bool {
	for _, s := range pr.Status.Sources {
		if s.Phase == privacyv1alpha1.SourcePhaseCompleted {
			return true
		}
	}
	return false
}

// keptDetails names the kinds of data kept and why, from status.kept.
func keptDetails(pr *privacyv1alpha1.PrivacyRequest) string {
	var parts []string
	for _, k := range pr.Status.Kept {
		cats := make([]string, len(k.Categories))
		for i, c := range k.Categories {
			cats[i] = string(c)
		}
		part := strings.Join(cats, ", ")
		if k.Basis != "" {
			part += " (" + k.Basis + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// answerOf is the status of a request kept only in the agent's answers:
// a need_user_verification past its expiresAt is expired.
func answerOf(a privacyv1alpha1.AgentAnswer, now time.Time) ExerciseStatus {
	st := ExerciseStatus{RequestID: a.RequestID, AgentRequestID: a.AgentRequestID, Status: a.Status, Reason: a.Reason,
		ProcessingDetails: a.ProcessingDetails, ReceivedAt: timestamp(a.ReceivedAt.Time), UserVerificationURL: a.UserVerificationURL}
	if a.ExpiresAt != nil {
		st.ExpiresAt = timestamp(a.ExpiresAt.Time)
		if a.Status == StatusInProgress && !now.Before(a.ExpiresAt.Time) {
			st.Status, st.Reason, st.UserVerificationURL = StatusExpired, "", ""
			st.ProcessingDetails = "The person did not verify their address in time; nothing was done."
		}
	}
	return st
}

// findAnswer is the agent's answer for id, if it has one.
func findAnswer(a *privacyv1alpha1.AuthorizedAgent, id string) (privacyv1alpha1.AgentAnswer, bool) {
	for _, ans := range a.Status.Answers {
		if ans.RequestID == id {
			return ans, true
		}
	}
	return privacyv1alpha1.AgentAnswer{}, false
}

// maxAnswers bounds status.answers (the CRD's MaxItems).
const maxAnswers = 100

// status answers an agent following its request (section 2.02).
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	pr, ans, _, ok := s.ownRequest(w, r)
	switch {
	case !ok:
	case ans != nil:
		writeJSON(w, http.StatusOK, answerOf(*ans, s.Now()))
	default:
		writeJSON(w, http.StatusOK, s.Describer.Status(pr))
	}
}

// newAnswer is an answer recorded now.
func newAnswer(id, agentRequestID, status, reason, details string, received, now time.Time) privacyv1alpha1.AgentAnswer {
	return privacyv1alpha1.AgentAnswer{RequestID: id, AgentRequestID: agentRequestID, Status: status, Reason: reason,
		ProcessingDetails: details, ReceivedAt: metav1.NewTime(received.UTC().Truncate(time.Second)), At: metav1.NewTime(now.UTC().Truncate(time.Second))}
}

// answer records ans in the agent's status.answers (newest first, the
// same request id once, at most maxAnswers), retried on a conflict with
// another replica. An answer lost to an error is only logged: the agent
// was told, and its status calls then get 404.
func (s *Server) answer(ctx context.Context, agent string, ans privacyv1alpha1.AgentAnswer) {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		a := &privacyv1alpha1.AuthorizedAgent{}
		if err := s.Client.Get(ctx, client.ObjectKey{Name: agent}, a); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(a.DeepCopy(), client.MergeFromWithOptimisticLock{})
		kept := slices.DeleteFunc(slices.Clone(a.Status.Answers), func(x privacyv1alpha1.AgentAnswer) bool { return x.RequestID == ans.RequestID })
		a.Status.Answers = trimAnswers(append([]privacyv1alpha1.AgentAnswer{ans}, kept...), s.Now())
		return s.Client.Status().Patch(ctx, a, patch)
	})
	if err != nil {
		s.Log.Error(err, "cannot record the answer to the agent's request", "agent", agent, "request", ans.RequestID)
	}
}

// trimAnswers keeps at most maxAnswers, newest first: past the bound the
// oldest final answers (and expired waits) go before any request still
// waiting for the person, whose answer is what lets it be filed.
func trimAnswers(answers []privacyv1alpha1.AgentAnswer, now time.Time) []privacyv1alpha1.AgentAnswer {
	for i := len(answers) - 1; i >= 0 && len(answers) > maxAnswers; i-- {
		if x := answers[i]; x.Status != StatusInProgress || x.ExpiresAt == nil || !now.Before(x.ExpiresAt.Time) {
			answers = slices.Delete(answers, i, i+1)
		}
	}
	if len(answers) > maxAnswers {
		answers = answers[:maxAnswers]
	}
	return answers
}
