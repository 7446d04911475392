package web

import (
	"encoding/json"
	"errors"
	"net/http"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

// confirm answers the mail's link with a page whose button files the
// request: a GET changes nothing, so a mail scanner that follows the link
// files nothing.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("t")
	if _, ok := s.open(w, r, token, purposeLink); !ok {
		return
	}
	p, _ := s.page(r, "title.confirm")
	p.Token = token
	s.render(w, r, http.StatusOK, "confirm", p)
}

// verify files the request once the person proved the address: with the
// link's token (the confirm page's button) or with the page's token and
// the mail's code. A second verification of the same submission finds the
// request the first filed.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	var opened seal.Opened
	if link := r.PostFormValue("link"); link != "" {
		var ok bool
		if opened, ok = s.open(w, r, link, purposeLink); !ok {
			return
		}
	} else {
		token := r.PostFormValue("t")
		var ok bool
		if opened, ok = s.open(w, r, token, purposeCode); !ok {
			return
		}
		id, err := s.ring.ID(token)
		if err != nil {
			s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
			return
		}
		if s.limits.locked(id) {
			s.message(w, r, http.StatusTooManyRequests, "title.check", "error.locked", true)
			return
		}
		if !s.ring.CheckCode(token, r.PostFormValue("code")) {
			if s.limits.wrongCode(id) {
				s.message(w, r, http.StatusTooManyRequests, "title.check", "error.locked", true)
				return
			}
			p, _ := s.page(r, "title.check")
			p.Token, p.Minutes = token, itoa(int(s.cfg.LinkTTL.Minutes()))
			p.Errors = map[string]string{"code": "error.code"}
			s.render(w, r, http.StatusUnprocessableEntity, "check", p)
			return
		}
	}
	var sub intake.Submission
	if err := json.Unmarshal(opened.Payload, &sub); err != nil || sub.Nonce == "" {
		s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
		return
	}
	s.fileVerified(w, r, sub)
}

// fileVerified files sub, whose e-mail address the person proved, and
// sends them to its status page (or an agent's request to the agent's
// redirect_to).
func (s *Server) fileVerified(w http.ResponseWriter, r *http.Request, sub intake.Submission) {
	address, err := json.Marshal(intake.Address{Email: sub.Identities["email"], Lang: sub.Lang})
	if err != nil {
		s.fail(w, r, err, "seal the notice address")
		return
	}
	notify, err := s.ring.Seal(address, intake.PurposeNotify, s.cfg.StatusTTL.Duration)
	if err != nil {
		s.fail(w, r, err, "seal the notice address")
		return
	}
	if _, ok := s.refuseUnlessWaiting(w, r, sub); !ok {
		return
	}
	annotations := map[string]string{intake.AnnotationNotify: notify}
	for k, v := range sub.Annotations {
		annotations[k] = v
	}
	pr, err := intake.File(r.Context(), s.client, intake.Options{
		SubjectNamespace: s.cfg.SubjectNamespace, Suspend: s.cfg.RequireApproval, Requester: s.requester,
		Annotations: annotations,
	}, sub)
	if err != nil {
		s.fail(w, r, err, "file the request")
		return
	}
	if agent := sub.Annotations[privacyv1alpha1.AnnotationAuthorizedAgent]; agent != "" {
		if err := intake.ForgetAnswer(r.Context(), s.client, agent, pr.Name); err != nil {
			s.log.Error(err, "cannot drop the agent's waiting answer", "request", pr.Name)
		}
	}
	if sub.RedirectTo != "" {
		// An agent's request: back to the agent, now that it is filed.
		http.Redirect(w, r, sub.RedirectTo, http.StatusSeeOther)
		return
	}
	status, err := s.ring.Seal([]byte(pr.Name), intake.PurposeStatus, s.cfg.StatusTTL.Duration)
	if err != nil {
		s.fail(w, r, err, "seal the status link")
		return
	}
	http.Redirect(w, r, "/status/"+status+"?lang="+sub.Lang, http.StatusSeeOther)
}

// open opens token for purpose, or answers with why it cannot.
func (s *Server) open(w http.ResponseWriter, r *http.Request, token, purpose string) (seal.Opened, bool) {
	opened, err := s.ring.Open(token, purpose, s.now())
	switch {
	case err == nil:
		return opened, true
	case errors.Is(err, seal.ErrExpired):
		s.message(w, r, http.StatusGone, "title.expired", "expired.body", true)
	default:
		s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
	}
	return seal.Opened{}, false
}
