package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// One-click unsubscribe links (RFC 8058). The company's mail system asks
// the center for a link per recipient (POST /unsubscribe-links, with the
// issuer token) and puts it in the List-Unsubscribe header beside
// List-Unsubscribe-Post: List-Unsubscribe=One-Click. A POST to the link
// files an OptOut of the link's scope for the address in it, at once and
// without further verification (the link went only to that address); the
// same link twice is one request. A GET shows a page with a button: link
// scanners that follow links file nothing.

// purposeUnsubscribe seals an address and a scope into a link.
const purposeUnsubscribe = "unsubscribe"

// unsubscribeLink is what a link carries.
type unsubscribeLink struct {
	Email string `json:"e"`
	Scope string `json:"s"`
}

// issueUnsubscribe answers the mail system with a link for an address and
// a scope: {"url", "headers": {List-Unsubscribe, List-Unsubscribe-Post}}.
// The address travels in the body, never in a URL, and is not logged.
func (s *Server) issueUnsubscribe(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if sum := sha256.Sum256([]byte(token)); token == "" || subtle.ConstantTimeCompare(sum[:], s.issuer[:]) != 1 {
		writeAPIError(w, http.StatusUnauthorized, "the issuer token (Authorization: Bearer ...) is missing or wrong")
		return
	}
	var in unsubscribeLink
	body := struct {
		Email string `json:"email"`
		Scope string `json:"scope"`
	}{}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "the body must be JSON: {\"email\": ..., \"scope\": ...}")
		return
	}
	in.Email, in.Scope = strings.TrimSpace(body.Email), body.Scope
	if in.Scope == "" {
		in.Scope = s.cfg.Unsubscribe.Scopes[0]
	}
	if !isEmail(in.Email) {
		writeAPIError(w, http.StatusBadRequest, "email must be a bare address (name@example.com)")
		return
	}
	if !slices.Contains(s.cfg.Unsubscribe.Scopes, in.Scope) {
		writeAPIError(w, http.StatusBadRequest, "scope must be one of unsubscribe.scopes: "+strings.Join(s.cfg.Unsubscribe.Scopes, ", "))
		return
	}
	payload, _ := json.Marshal(in)
	sealed, err := s.ring.Seal(payload, purposeUnsubscribe, s.cfg.Unsubscribe.TTL.Duration)
	if err != nil {
		s.log.Error(err, "cannot seal an unsubscribe link")
		writeAPIError(w, http.StatusServiceUnavailable, "the link could not be made; try again")
		return
	}
	link := strings.TrimSuffix(s.cfg.BaseURL, "/") + "/unsubscribe/" + sealed
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"url": link, "headers": map[string]string{
		"List-Unsubscribe": "<" + link + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}})
}

// unsubscribePage shows what the link does and a button that does it.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	opened, ok := s.open(w, r, token, purposeUnsubscribe)
	if !ok {
		return
	}
	var in unsubscribeLink
	if err := json.Unmarshal(opened.Payload, &in); err != nil {
		s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
		return
	}
	p, _ := s.page(r, "title.unsubscribe")
	p.Token, p.Message = token, p.T("unsubscribe.body", "email", in.Email, "scope", p.T("scope."+in.Scope))
	s.render(w, r, http.StatusOK, "unsubscribe", p)
}

// unsubscribe files the OptOut a link stands for: from a mailbox
// provider's one-click POST (body List-Unsubscribe=One-Click) or from the
// page's button. Its name derives from the link, so a second POST finds
// the request the first filed. No notices: the person asked for less mail.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	// Not under the per-client rate of the form: mailbox providers send
	// these POSTs from a few addresses of theirs, do not retry a 429, and
	// the sealed link itself is the credential.
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.message(w, r, http.StatusRequestEntityTooLarge, "title.invalid", "invalid.body", true)
		return
	}
	token := r.PathValue("token")
	opened, ok := s.open(w, r, token, purposeUnsubscribe)
	if !ok {
		return
	}
	var in unsubscribeLink
	id, err := s.ring.ID(token)
	if err != nil || json.Unmarshal(opened.Payload, &in) != nil {
		s.message(w, r, http.StatusBadRequest, "title.invalid", "invalid.body", true)
		return
	}
	sub := intake.Submission{Nonce: "u" + id, Type: privacyv1alpha1.RequestTypeOptOut, Regulation: privacyv1alpha1.RegulationOther,
		Identities: map[string]string{"email": in.Email}, Scopes: []string{in.Scope}, Lang: "en", ReceivedAt: s.now()}
	pr, err := intake.File(r.Context(), s.client, intake.Options{SubjectNamespace: s.cfg.SubjectNamespace, Suspend: s.cfg.RequireApproval,
		Requester: s.requester, Annotations: map[string]string{privacyv1alpha1.AnnotationUnsubscribe: "one-click"}}, sub)
	if err != nil {
		s.fail(w, r, err, "file the opt-out")
		return
	}
	s.log.Info("unsubscribe link used", "request", pr.Name)
	s.message(w, r, http.StatusOK, "title.unsubscribe", "unsubscribe.done", false)
}

// writeAPIError answers a machine client with {"message": ...}.
func writeAPIError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
