package drp

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// Annotations of the requests agents file.
const (
	// AnnotationAgent names the AuthorizedAgent's agent id: only that
	// agent may read or revoke the request.
	AnnotationAgent = privacyv1alpha1.AnnotationAuthorizedAgent
	// AnnotationAgentRequestID is the agent's own id of the request.
	AnnotationAgentRequestID = privacyv1alpha1.AnnotationAgentRequestID
)

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
	exercise := strings.Replace(m.Exercise, "_", "-", 1)
	id := intake.NamePrefix + nonce(a.Spec.AgentID, m.AgentRequestID, m.Digest)
	if exercise == "sale:opt-in" {
		// The data sources' protocol has no reversal of an opt-out: the
		// right is known and answered, not served.
		s.deny(w, r, a, newAnswer(id, m.AgentRequestID, StatusDenied, ReasonClaimNotCovered,
			"Opting back in to the sale of personal information is not offered through agents; the person may opt in with the company directly.", s.Now(), s.Now()))
		return
	}
	typ, ok := rights[exercise]
	if !ok {
		writeError(w, fail(http.StatusBadRequest, true, "Unsupported rights actions submitted: %q (served: access, deletion, sale:opt-out; sale:opt-in is answered denied)", m.Exercise))
		return
	}
	if len(m.AgentRequestID) > 128 || len(m.StatusCallback) > 512 {
		writeError(w, fail(http.StatusBadRequest, true, "agent-request-id is limited to 128 characters and status_callback to 512"))
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
	for claim, value := range map[string]string{"email": m.Email, "phone_number": m.PhoneNumber, "name": personName(m.Name), "address": postalAddress(m.Address)} {
		if t, ok := s.Identities[claim]; ok && strings.TrimSpace(value) != "" {
			ids[t] = strings.TrimSpace(value)
		}
	}
	if !m.PhoneNumberVerified {
		// An unverified phone number is not an identity the company relies on.
		delete(ids, s.Identities["phone_number"])
	}
	if !m.AddressVerified {
		delete(ids, s.Identities["address"])
	}
	if m.Email == "" || ids[s.Identities["email"]] == "" {
		writeError(w, fail(http.StatusBadRequest, true, "the request needs the person's email claim"))
		return
	}
	sub := intake.Submission{Nonce: strings.TrimPrefix(id, intake.NamePrefix), Type: typ, Regulation: privacyv1alpha1.RegulationOther,
		Identities: ids, ReceivedAt: s.Now(), Lang: "en"}
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
	if !m.EmailVerified {
		// The person proves the address at the privacy center first
		// (need_user_verification); the request is filed then.
		delete(annotations, intake.AnnotationNotify)
		sub.Annotations = annotations
		s.needVerification(w, r, a, sub, m.AgentRequestID)
		return
	}
	if old, ok := findAnswer(a, id); ok && old.Status != StatusInProgress {
		// Revoked (and deleted) or denied before: a replay files nothing.
		writeJSON(w, http.StatusOK, answerOf(old, s.Now()))
		return
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
	writeJSON(w, http.StatusOK, s.Describer.Status(pr))
}

// needVerification answers an agent's request whose e-mail claim the
// agent has not verified: in_progress / need_user_verification with the
// privacy center's page where the person proves the address; the center
// files the request then. Without that page (Verify unset) the request
// is denied (insuf_verification).
func (s *Server) needVerification(w http.ResponseWriter, r *http.Request, a *privacyv1alpha1.AuthorizedAgent, sub intake.Submission, agentRequestID string) {
	id, now := sub.Name(), s.Now()
	filed := &privacyv1alpha1.PrivacyRequest{}
	if err := s.Client.Get(r.Context(), client.ObjectKey{Name: id}, filed); err == nil && filed.Annotations[AnnotationAgent] == a.Spec.AgentID {
		// The person verified already: the request stands.
		writeJSON(w, http.StatusOK, s.Describer.Status(filed))
		return
	} else if client.IgnoreNotFound(err) != nil {
		s.internal(w, err, "read the request")
		return
	}
	if old, ok := findAnswer(a, id); ok {
		writeJSON(w, http.StatusOK, answerOf(old, now))
		return
	}
	if s.Verify == nil {
		s.deny(w, r, a, newAnswer(id, agentRequestID, StatusDenied, ReasonInsufVerification,
			"The email claim must be verified by the agent (email_verified: true).", now, now))
		return
	}
	link, err := s.Verify(sub)
	if err != nil {
		s.internal(w, err, "seal the verification page")
		return
	}
	ans := newAnswer(id, agentRequestID, StatusInProgress, ReasonNeedUserVerification,
		"The person must confirm their e-mail address at the company's privacy center before the company acts.", now, now)
	ans.UserVerificationURL = link
	expires := metav1.NewTime(now.Add(s.VerifyFor).UTC().Truncate(time.Second))
	ans.ExpiresAt = &expires
	s.answer(r.Context(), a.Name, ans)
	s.Log.Info("data rights request waits for the person's verification", "agent", a.Spec.AgentID, "request", id)
	writeJSON(w, http.StatusOK, answerOf(ans, now))
}

// deny answers a request that is not filed with its final status, kept
// in the agent's status.answers for its status calls. A retry with the
// same agent-request-id gets the same answer.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, a *privacyv1alpha1.AuthorizedAgent, ans privacyv1alpha1.AgentAnswer) {
	if old, ok := findAnswer(a, ans.RequestID); ok {
		ans = old
	} else {
		s.answer(r.Context(), a.Name, ans)
	}
	s.Log.Info("data rights request denied", "agent", a.Spec.AgentID, "request", ans.RequestID, "reason", ans.Reason)
	writeJSON(w, http.StatusOK, answerOf(ans, s.Now()))
}

// postalAddress is an OpenID Connect address claim (section 5.1.1) on one
// line: the formatted value, or street, locality, region, postal code and
// country joined by ", ", blanks left out; "" when it holds nothing.
func postalAddress(raw json.RawMessage) string {
	var a struct {
		Formatted     string `json:"formatted"`
		StreetAddress string `json:"street_address"`
		Locality      string `json:"locality"`
		Region        string `json:"region"`
		PostalCode    string `json:"postal_code"`
		Country       string `json:"country"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil {
		return ""
	}
	if f := strings.Join(strings.Fields(a.Formatted), " "); f != "" {
		return f
	}
	var parts []string
	for _, p := range []string{a.StreetAddress, a.Locality, a.Region, a.PostalCode, a.Country} {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// personName turns the "Last, First" some agents send into "First Last",
// the order people write their names in and sources keep them.
func personName(name string) string {
	last, first, ok := strings.Cut(name, ",")
	if !ok || strings.Contains(first, ",") || strings.TrimSpace(first) == "" || strings.TrimSpace(last) == "" {
		return name
	}
	return strings.TrimSpace(first) + " " + strings.TrimSpace(last)
}

// nonce names an agent's request: derived from its agent-request-id, so
// that a retry finds the request, or without one from the signed message
// itself, so that the same message replayed finds the request it filed.
func nonce(agent, agentRequestID, digest string) string {
	key := "drp\x00" + agent + "\x00" + agentRequestID
	if agentRequestID == "" {
		key = "drp-message\x00" + agent + "\x00" + digest
	}
	sum := sha256.Sum256([]byte(key))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:26]
}

// ownRequest reads the request id names for the token's agent: its
// PrivacyRequest, or the answer the agent's status keeps for a request
// that has none (denied as it came in, revoked and deleted); 403 when it
// is another agent's, 404 when there is neither.
func (s *Server) ownRequest(w http.ResponseWriter, r *http.Request) (*privacyv1alpha1.PrivacyRequest, *privacyv1alpha1.AgentAnswer, *privacyv1alpha1.AuthorizedAgent, bool) {
	a, err := s.bearer(r)
	if err != nil {
		s.internal(w, err, "read the agents")
		return nil, nil, nil, false
	}
	if a == nil {
		writeError(w, fail(http.StatusForbidden, false, "no agent holds this bearer token"))
		return nil, nil, nil, false
	}
	id := r.PathValue("id")
	pr := &privacyv1alpha1.PrivacyRequest{}
	err = s.Client.Get(r.Context(), client.ObjectKey{Name: id}, pr)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && pr.Annotations[AnnotationAgent] == ""):
		if ans, ok := findAnswer(a, id); ok {
			return nil, &ans, a, true
		}
		// The agent as cached may not show an answer just written (a revoke
		// right after the exercise): read it from the API before saying 404.
		fresh := &privacyv1alpha1.AuthorizedAgent{}
		if err := s.Client.Get(r.Context(), client.ObjectKeyFromObject(a), fresh); err == nil {
			if ans, ok := findAnswer(fresh, id); ok {
				return nil, &ans, fresh, true
			}
		}
		writeError(w, fail(http.StatusNotFound, false, "no such request"))
		return nil, nil, nil, false
	case err != nil:
		s.internal(w, err, "read the request")
		return nil, nil, nil, false
	case pr.Annotations[AnnotationAgent] != a.Spec.AgentID:
		writeError(w, fail(http.StatusForbidden, false, "the request is another agent's"))
		return nil, nil, nil, false
	}
	return pr, nil, a, true
}

// revoke withdraws a request (section 2.04): the request is deleted, and
// the operator cancels its open jobs and keeps a Cancelled receipt.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	pr, ans, a, ok := s.ownRequest(w, r)
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
	if ans != nil {
		st := answerOf(*ans, s.Now())
		if st.Status == StatusInProgress {
			// Waiting for the person: withdrawn, so that a later
			// verification files nothing (the center checks the answers).
			revoked := newAnswer(ans.RequestID, ans.AgentRequestID, StatusRevoked, "", "", ans.ReceivedAt.Time, s.Now())
			s.answer(r.Context(), a.Name, revoked)
			st = answerOf(revoked, s.Now())
			// The person may have verified on another replica between our
			// read and the answer: the request filed then goes too.
			late := &privacyv1alpha1.PrivacyRequest{}
			if err := s.Client.Get(r.Context(), client.ObjectKey{Name: ans.RequestID}, late); err == nil && late.Annotations[AnnotationAgent] == a.Spec.AgentID {
				if err := s.Client.Delete(r.Context(), late); client.IgnoreNotFound(err) != nil {
					s.Log.Error(err, "cannot delete a request filed while it was revoked", "agent", a.Spec.AgentID, "request", late.Name)
				}
			}
			s.Log.Info("data rights request revoked before verification", "agent", a.Spec.AgentID, "request", ans.RequestID)
		}
		// Otherwise final already: revoking changes nothing.
		writeJSON(w, http.StatusOK, st)
		return
	}
	st := s.Describer.Status(pr)
	if st.Status == StatusInProgress || st.Status == StatusOpen {
		// Only the request as read: not one that finished meanwhile.
		pre := client.Preconditions{UID: &pr.UID, ResourceVersion: &pr.ResourceVersion}
		if err := s.Client.Delete(r.Context(), pr, pre); apierrors.IsConflict(err) {
			writeError(w, fail(http.StatusConflict, false, "the request changed meanwhile; read its status and revoke again"))
			return
		} else if client.IgnoreNotFound(err) != nil {
			s.internal(w, err, "revoke the request")
			return
		}
		st.Status, st.Reason, st.ProcessingDetails, st.ExpectedBy = StatusRevoked, "", "", ""
		received := pr.CreationTimestamp.Time
		if pr.Spec.ReceivedAt != nil {
			received = pr.Spec.ReceivedAt.Time
		}
		// Kept for the agent's status calls once the request is gone.
		s.answer(r.Context(), a.Name, newAnswer(pr.Name, st.AgentRequestID, StatusRevoked, "", "", received, s.Now()))
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
