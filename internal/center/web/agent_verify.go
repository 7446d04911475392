package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

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
	if _, ok := s.refuseUnlessWaiting(w, r, sub); !ok {
		return
	}
	p, _ := s.page(r, "title.agent")
	p.Token = token
	p.Agent = agentView{
		Type: p.T("type." + string(sub.Type)), Email: maskAddress(sub.Identities["email"]),
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
	if !ok {
		return
	}
	agent, ok := s.refuseUnlessWaiting(w, r, sub)
	if !ok {
		return
	}
	sub.RedirectTo = ""
	if to := r.PostFormValue("redirect_to"); agent != nil && len(to) <= maxRedirect && r.PostFormValue("request_id") == sub.Name() {
		if u, err := url.Parse(to); err == nil && u.Scheme == "https" && slices.Contains(agent.Spec.CallbackHosts, u.Host) {
			sub.RedirectTo = u.String()
		}
	}
	// The person's language, for the mail now and the notices later.
	p, lang := s.page(r, "title.check")
	sub.Lang = lang.String()
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

// maxRedirect bounds redirect_to (it is sealed into the mail's link).
const maxRedirect = 1024

// refuseUnlessWaiting lets an agent's submission go on only while its
// request waits for the person: the agent is registered and not
// suspended, and its status.answers hold the request as
// need_user_verification, not past its expiresAt. A request the agent
// revoked, that expired or whose agent was suspended or removed is
// answered 410 (false); a submission of no agent passes (nil agent).
func (s *Server) refuseUnlessWaiting(w http.ResponseWriter, r *http.Request, sub intake.Submission) (*privacyv1alpha1.AuthorizedAgent, bool) {
	agentID := sub.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent]
	if agentID == "" {
		return nil, true
	}
	agents := &privacyv1alpha1.AuthorizedAgentList{}
	if err := s.client.List(r.Context(), agents); err != nil {
		s.fail(w, r, err, "read the agent")
		return nil, false
	}
	filed := &privacyv1alpha1.PrivacyRequest{}
	err := s.client.Get(r.Context(), client.ObjectKey{Name: sub.Name()}, filed)
	if client.IgnoreNotFound(err) != nil {
		s.fail(w, r, err, "read the request")
		return nil, false
	}
	// A second click once it is filed (and not revoked) finds the request.
	stands := err == nil && filed.DeletionTimestamp.IsZero() && filed.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent] == agentID
	for i := range agents.Items {
		a := &agents.Items[i]
		if a.Spec.AgentID != agentID || a.Spec.Suspend {
			continue
		}
		if stands {
			return a, true
		}
		for _, ans := range a.Status.Answers {
			if ans.RequestID == sub.Name() && ans.Status == "in_progress" && ans.ExpiresAt != nil && s.now().Before(ans.ExpiresAt.Time) {
				return a, true
			}
		}
	}
	s.message(w, r, http.StatusGone, "title.agent", "agent.revoked", false)
	return nil, false
}

// agentView is what the page says of the agent's request.
type agentView struct {
	Type, Email, RedirectTo, RequestID string
}

// maskAddress shows enough of an address for its owner to recognise it
// (a***@example.com), and not the address itself to whoever holds the
// page's link (the agent's status keeps it).
func maskAddress(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}
