package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// The person's side of the Data Rights Protocol's need_user_verification
// (section 3.02.1): an authorized agent filed a request whose e-mail
// claim it had not verified, and was given this page as the request's
// user_verification_url. The agent sends the person here (with
// redirect_to and request_id); the page mails a link and a code to the
// address as the form does, and the request is filed only when the person
// uses one. Then, and only then, the person goes back to redirect_to.

// agentPage shows what the agent asked for and a button that sends the
// code. A GET changes nothing.
func (s *Server) agentPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("t")
	sub, ok := s.openSubmission(w, r, token, intake.PurposeAgentVerify)
	if !ok {
		return
	}
	p, _ := s.page(r, "title.agent")
	p.Token = token
	p.Agent = agentView{
		Type: p.T("type." + string(sub.Type)), Email: sub.Identities["email"],
		RedirectTo: r.URL.Query().Get("redirect_to"), RequestID: r.URL.Query().Get("request_id"),
	}
	s.render(w, r, http.StatusOK, "agent", p)
}

// agentSend mails the person the link and the code for the agent's
// request. redirect_to is kept for after the verification only when the
// agent gave the request's own request_id and it leads, over https, to a
// host registered for the agent (spec.callbackHosts).
func (s *Server) agentSend(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	sub, ok := s.openSubmission(w, r, r.PostFormValue("t"), intake.PurposeAgentVerify)
	if !ok || s.refuseRevoked(w, r, sub) {
		return
	}
	sub.RedirectTo = ""
	if u, err := url.Parse(r.PostFormValue("redirect_to")); err == nil && u.Scheme == "https" && slices.Contains(sub.RedirectHosts, u.Host) &&
		r.PostFormValue("request_id") == sub.Name() {
		sub.RedirectTo = u.String()
	}
	p, _ := s.page(r, "title.check")
	s.sendVerification(w, r, p.T, sub)
}

// openSubmission opens a sealed submission, or answers why it cannot.
func (s *Server) openSubmission(w http.ResponseWriter, r *http.Request, token, purpose string) (intake.Submission, bool) {
	var sub intake.Submission
	opened, ok := s.open(w, r, token, purpose)
	if !ok {
		return sub, false
	}
	if err := json.Unmarshal(opened.Payload, &sub); err != nil || sub.Nonce == "" {
		s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
		return sub, false
	}
	return sub, true
}

// refuseRevoked answers 410 for an agent's request the agent withdrew
// while it waited for the person (true: answered).
func (s *Server) refuseRevoked(w http.ResponseWriter, r *http.Request, sub intake.Submission) bool {
	revoked, err := s.agentRevoked(r.Context(), sub)
	switch {
	case err != nil:
		s.fail(w, r, err, "read the agent")
	case revoked:
		s.message(w, r, http.StatusGone, "title.agent", "agent.revoked", false)
	}
	return err != nil || revoked
}

// agentRevoked reports whether the agent withdrew sub's request while it
// waited for the person (its status.answers say revoked).
func (s *Server) agentRevoked(ctx context.Context, sub intake.Submission) (bool, error) {
	agentID := sub.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent]
	if agentID == "" {
		return false, nil
	}
	agents := &privacyv1alpha1.AuthorizedAgentList{}
	if err := s.client.List(ctx, agents); err != nil {
		return false, err
	}
	for _, a := range agents.Items {
		if a.Spec.AgentID != agentID {
			continue
		}
		for _, ans := range a.Status.Answers {
			if ans.RequestID == sub.Name() && ans.Status == "revoked" {
				return true, nil
			}
		}
	}
	return false, nil
}

// agentView is what the page says of the agent's request.
type agentView struct {
	Type, Email, RedirectTo, RequestID string
}
