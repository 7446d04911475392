package web

import (
	"bytes"
	"net/http"
	"strconv"

	"golang.org/x/text/language"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
)

// page is what every template reads.
type page struct {
	Lang, Title, Company, LogoURL, PolicyURL, Primary, Nonce string
	T                                                        i18n.Printer
	Languages                                                []i18n.LangLink

	// The form, and the token of the mail it answers (requests by e-mail).
	Prefill     string
	Form        formValues
	Errors      map[string]string
	ErrorList   []formError
	Regulations []privacyv1alpha1.Regulation
	Rights      []privacyv1alpha1.RequestType
	Identities  []config.IdentityField
	Scopes      []string

	// Verification: the token, how long it works, where the code goes
	// (Action, /verify when empty) and what the page says (CheckBody,
	// check.body when empty).
	Token, Minutes, Action, CheckBody string

	// A message page.
	Message string
	Again   bool

	// The status page.
	Status statusView

	// The download page.
	Export exportView

	// The page of an authorized agent's request (need_user_verification).
	Agent agentView
}

// exportView is what the download pages say about the export.
type exportView struct{ SHA256, Bytes string }

// formError is one line of the error summary, in the form's order.
type formError struct{ ID, Label, Message, Type string }

// scopes are the opt-out scopes the form offers.
var scopes = []string{"email-marketing", "sms-marketing", "profiling", "sale"}

func (s *Server) page(r *http.Request, titleID string) (page, language.Tag) {
	lang := s.cat.Pick(r)
	t := s.cat.Printer(lang)
	b := s.cfg.Branding
	return page{
		Lang: lang.String(), Title: t(titleID), Company: b.CompanyName, LogoURL: b.LogoURL, PolicyURL: b.PolicyURL,
		Primary: b.PrimaryColor, Nonce: nonceOf(r), T: t, Languages: s.cat.Others(lang),
	}, lang
}

// render writes the named page with code; a template error is the
// center's fault and is logged without the page's data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error(err, "render page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p.Lang != "" && r.URL.Query().Get("lang") != "" {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: p.Lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page that says one thing (an expired link, a limit).
func (s *Server) message(w http.ResponseWriter, r *http.Request, code int, titleID, bodyID string, again bool) {
	p, _ := s.page(r, titleID)
	p.Message, p.Again = p.T(bodyID), again
	s.render(w, r, code, "message", p)
}
