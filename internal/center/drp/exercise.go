package drp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// Annotations of the requests agents file.
const (
	// AnnotationAgent names the AuthorizedAgent's agent id: only that
	// agent may read or revoke the request.
	AnnotationAgent = "privacyoperator.io/authorized-agent"
	// AnnotationAgentRequestID is the agent's own id of the request.
	AnnotationAgentRequestID = "privacyoperator.io/agent-request-id"
)

// ExerciseStatus is the protocol's status of a request (section 3.03).
type ExerciseStatus struct {
	RequestID         string `json:"request_id"`
	AgentRequestID    string `json:"agent_request_id,omitempty"`
	Status            string `json:"status"`
	Reason            string `json:"reason,omitempty"`
	ReceivedAt        string `json:"received_at,omitempty"`
	ExpectedBy        string `json:"expected_by,omitempty"`
	ProcessingDetails string `json:"processing_details,omitempty"`
}

// exercise files a data rights request (section 2.01) as a PrivacyRequest
// with the person's identities in a subject Secret, as the privacy center
// files its own; the same agent-request-id finds the request again.
func (s *Server) exercise(w http.ResponseWriter, r *http.Request) {
	a, err := s.bearer(r)
	if err != nil {
		s.internal(w, err, "read the agents")
		return
	}
	if a == nil {
		writeError(w, fail(http.StatusForbidden, false, "pair first: no agent holds this bearer token"))
		return
	}
	m, ferr := s.signed(r, a, true)
	if ferr != nil {
		writeError(w, ferr)
		return
	}
	if !s.allow(a) {
		writeError(w, fail(http.StatusTooManyRequests, false, "the agent's rate (spec.requestsPerHour) is used up; try again later"))
		return
	}
	typ, ok := rights[strings.Replace(m.Exercise, "_", "-", 1)]
	if !ok {
		writeError(w, fail(http.StatusBadRequest, true, "Unsupported rights actions submitted: %q (served: access, deletion, sale:opt-out)", m.Exercise))
		return
	}
	if m.StatusCallback != "" {
		u, err := url.Parse(m.StatusCallback)
		if err != nil || u.Scheme != "https" || !slices.Contains(a.Spec.CallbackHosts, u.Host) {
			writeError(w, fail(http.StatusBadRequest, true, "status_callback must be an https URL on a host registered for the agent (spec.callbackHosts)"))
			return
		}
	}
	ids := map[string]string{}
	for claim, value := range map[string]string{"email": m.Email, "phone_number": m.PhoneNumber, "name": m.Name} {
		if t, ok := s.Identities[claim]; ok && value != "" {
			ids[t] = value
		}
	}
	if m.Email == "" || ids[s.Identities["email"]] == "" {
		writeError(w, fail(http.StatusBadRequest, true, "the request needs the person's email claim"))
		return
	}
	if !m.EmailVerified {
		// The person must prove the address first; that step (the privacy
		// center's verification, need_user_verification) is not served.
		// A request id the protocol requires; nothing is filed under it.
		writeJSON(w, http.StatusOK, ExerciseStatus{RequestID: "denied-" + nonce(a.Spec.AgentID, ""), AgentRequestID: m.AgentRequestID, Status: "denied", Reason: "insuf_verification",
			ProcessingDetails: "The email claim must be verified by the agent (email_verified: true)."})
		return
	}
	sub := intake.Submission{Nonce: nonce(a.Spec.AgentID, m.AgentRequestID), Type: typ, Regulation: privacyv1alpha1.RegulationOther,
		Identities: ids, ReceivedAt: s.Now()}
	if strings.EqualFold(m.Regime, "ccpa") {
		sub.Regulation = privacyv1alpha1.RegulationCCPA
	}
	if typ == privacyv1alpha1.RequestTypeOptOut {
		sub.Scopes = []string{"sale"}
	}
	annotations := map[string]string{AnnotationAgent: a.Spec.AgentID}
	if s.SealAddress != nil {
		sealed, err := s.SealAddress(m.Email)
		if err != nil {
			s.internal(w, err, "seal the notice address")
			return
		}
		annotations[intake.AnnotationNotify] = sealed
	}
	if m.AgentRequestID != "" {
		annotations[AnnotationAgentRequestID] = m.AgentRequestID
	}
	if m.StatusCallback != "" {
		annotations[AnnotationStatusCallback] = m.StatusCallback
	}
	pr, err := intake.File(r.Context(), s.Client, intake.Options{SubjectNamespace: s.SubjectNamespace, Suspend: s.Suspend,
		Requester: s.Requester, Annotations: annotations}, sub)
	if err != nil {
		s.internal(w, err, "file the request")
		return
	}
	if pr.Annotations[AnnotationAgent] != a.Spec.AgentID {
		writeError(w, fail(http.StatusForbidden, true, "the request is another agent's"))
		return
	}
	// Counted when this call filed it: a retry finds the first filing's
	// receivedAt (one in the same second counts again).
	if pr.Spec.ReceivedAt != nil && pr.Spec.ReceivedAt.Time.Equal(sub.ReceivedAt.UTC().Truncate(time.Second)) {
		s.count(r.Context(), a.Name)
	}
	s.Log.Info("data rights request filed", "agent", a.Spec.AgentID, "request", pr.Name)
	writeJSON(w, http.StatusOK, statusOf(pr))
}

// nonce names an agent's request: derived from its agent-request-id, so
// that a retry finds the request, or random without one.
func nonce(agent, agentRequestID string) string {
	b := make([]byte, 32)
	if agentRequestID == "" {
		_, _ = rand.Read(b)
	} else {
		sum := sha256.Sum256([]byte("drp\x00" + agent + "\x00" + agentRequestID))
		b = sum[:]
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:26]
}

// ownRequest reads the request id names for the token's agent: 403 when
// it is another agent's, 404 when there is none.
func (s *Server) ownRequest(w http.ResponseWriter, r *http.Request) (*privacyv1alpha1.PrivacyRequest, *privacyv1alpha1.AuthorizedAgent, bool) {
	a, err := s.bearer(r)
	if err != nil {
		s.internal(w, err, "read the agents")
		return nil, nil, false
	}
	if a == nil {
		writeError(w, fail(http.StatusForbidden, false, "no agent holds this bearer token"))
		return nil, nil, false
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	err = s.Client.Get(r.Context(), client.ObjectKey{Name: r.PathValue("id")}, pr)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && pr.Annotations[AnnotationAgent] == ""):
		writeError(w, fail(http.StatusNotFound, false, "no such request"))
		return nil, nil, false
	case err != nil:
		s.internal(w, err, "read the request")
		return nil, nil, false
	case pr.Annotations[AnnotationAgent] != a.Spec.AgentID:
		writeError(w, fail(http.StatusForbidden, false, "the request is another agent's"))
		return nil, nil, false
	}
	return pr, a, true
}

// status answers an agent following its request (section 2.02).
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if pr, _, ok := s.ownRequest(w, r); ok {
		writeJSON(w, http.StatusOK, statusOf(pr))
	}
}

// statusOf tells a request's state in the protocol's terms.
func statusOf(pr *privacyv1alpha1.PrivacyRequest) ExerciseStatus {
	st := ExerciseStatus{RequestID: pr.Name, AgentRequestID: pr.Annotations[AnnotationAgentRequestID], Status: "in_progress"}
	received := pr.CreationTimestamp.Time
	if pr.Spec.ReceivedAt != nil {
		received = pr.Spec.ReceivedAt.Time
	}
	st.ReceivedAt = received.UTC().Format(time.RFC3339)
	if pr.Status.DueAt != nil {
		st.ExpectedBy = pr.Status.DueAt.UTC().Format(time.RFC3339)
	}
	if pr.Spec.Extension != nil {
		st.ProcessingDetails = "Extended: " + pr.Spec.Extension.Reason
	}
	state, bases := intake.StateOf(pr)
	switch {
	case !pr.DeletionTimestamp.IsZero():
		st.Status = "revoked"
	case state == intake.StateReview:
		st.ProcessingDetails = "The request is being reviewed before the company acts on it."
	case state == intake.StateCompleted:
		st.Status = "fulfilled"
	case state == intake.StateHeld:
		st.Status, st.ProcessingDetails = "fulfilled", "Done in part: some data is kept under a legal obligation (a legal hold)."
	case state == intake.StateRefused:
		st.Status, st.ProcessingDetails = "fulfilled", "Done in part: some data is kept as the law allows: "+strings.Join(bases, "; ")
	case state == intake.StateFailed:
		st.Status, st.Reason, st.ProcessingDetails = "denied", "other", "The company could not complete the request; its privacy team follows up."
	}
	return st
}

// revoke withdraws a request (section 2.04): the request is deleted, and
// the operator cancels its open jobs and keeps a Cancelled receipt.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	pr, a, ok := s.ownRequest(w, r)
	if !ok {
		return
	}
	// The protocol's revocation signs only a reason; an envelope, when
	// the agent sends one, is checked as any other.
	m, ferr := s.signed(r, a, false)
	if ferr == nil && (m.AgentID != "" || m.BusinessID != "" || m.IssuedAt != "" || m.ExpiresAt != "") {
		ferr = s.Window.Check(m, a.Spec.AgentID, s.BusinessID, s.Now())
	}
	if ferr != nil {
		writeError(w, ferr)
		return
	}
	st := statusOf(pr)
	if st.Status == "in_progress" || st.Status == "open" {
		// Only the request as read: not one that finished meanwhile.
		pre := client.Preconditions{UID: &pr.UID, ResourceVersion: &pr.ResourceVersion}
		if err := s.Client.Delete(r.Context(), pr, pre); apierrors.IsConflict(err) {
			writeError(w, fail(http.StatusConflict, false, "the request changed meanwhile; read its status and revoke again"))
			return
		} else if client.IgnoreNotFound(err) != nil {
			s.internal(w, err, "revoke the request")
			return
		}
		st.Status, st.Reason, st.ProcessingDetails = "revoked", "", ""
		s.Log.Info("data rights request revoked", "agent", a.Spec.AgentID, "request", pr.Name)
	}
	writeJSON(w, http.StatusOK, st)
}

// count adds one to the agent's status.requests (retried on a conflict
// with another replica; a count lost to an error is only logged).
func (s *Server) count(ctx context.Context, name string) {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		a := &privacyv1alpha1.AuthorizedAgent{}
		if err := s.Client.Get(ctx, client.ObjectKey{Name: name}, a); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(a.DeepCopy(), client.MergeFromWithOptimisticLock{})
		a.Status.Requests++
		return s.Client.Status().Patch(ctx, a, patch)
	})
	if err != nil {
		s.Log.Error(err, "cannot count the agent's request", "agent", name)
	}
}
