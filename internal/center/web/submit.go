package web

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	centermail "github.com/privacyoperator/privacy-operator/internal/center/mail"
)

// Purposes of the center's sealed tokens: a token for one cannot be used
// for another.
const (
	purposeLink = "verify-link" // in the mail's link: proves the mailbox
	purposeCode = "verify-code" // in the page: needs the mail's code
)

// formValues are what the person typed, kept to show the form again.
type formValues struct {
	Regulation, Type, CorrectField, CorrectValue string
	Identities                                   map[string]string
	Scopes                                       []string
}

// HasScope reports whether scope was ticked.
func (f formValues) HasScope(scope string) bool { return slices.Contains(f.Scopes, scope) }

var fieldName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.]{0,63}$`)

// form shows the request form.
func (s *Server) form(w http.ResponseWriter, r *http.Request) {
	p, _ := s.page(r, "title.form")
	f := formValues{Regulation: string(s.cfg.Regulations[0].Name), Identities: map[string]string{}}
	if pre, ok := s.prefilled(r.URL.Query().Get("prefill")); ok {
		// From the answer to a mail: what the center read, and the link
		// (which proves the address) sent back with the form.
		f.Identities["email"], f.Type, p.Prefill = pre.Email, string(pre.Type), r.URL.Query().Get("prefill")
		if pre.Regulation != "" {
			f.Regulation = string(pre.Regulation)
		}
	}
	s.fillForm(&p, f, nil)
	s.render(w, r, http.StatusOK, "form", p)
}

func (s *Server) fillForm(p *page, f formValues, errs map[string]string) {
	p.Form, p.Errors, p.Identities, p.Scopes = f, errs, s.cfg.Identities, scopes
	order := []formError{{ID: "regulation", Label: "field.regulation"}, {ID: "type", Label: "field.type"}}
	for _, field := range s.cfg.Identities {
		label := "field.identity.email"
		if field.Type != "email" {
			label = "field.identity.other"
		}
		order = append(order, formError{ID: "id-" + field.Type, Label: label, Type: field.Type})
	}
	order = append(order, formError{ID: "correct-field", Label: "field.correctField"}, formError{ID: "correct-value", Label: "field.correctValue"},
		formError{ID: "scopes", Label: "field.scopes"})
	for _, e := range order {
		if msg, ok := errs[e.ID]; ok {
			e.Message = msg
			p.ErrorList = append(p.ErrorList, e)
		}
	}
	for _, reg := range s.cfg.Regulations {
		p.Regulations = append(p.Regulations, reg.Name)
		for _, t := range reg.Rights {
			if !slices.Contains(p.Rights, t) {
				p.Rights = append(p.Rights, t)
			}
		}
	}
}

// parse reads and checks the form; errs maps a field's id to the message
// id of what is wrong with it.
func (s *Server) parse(r *http.Request) (f formValues, sub intake.Submission, errs map[string]string) {
	errs = map[string]string{}
	f = formValues{
		Regulation: r.PostFormValue("regulation"), Type: r.PostFormValue("type"),
		CorrectField: strings.TrimSpace(r.PostFormValue("correct-field")), CorrectValue: strings.TrimSpace(r.PostFormValue("correct-value")),
		Identities: map[string]string{}, Scopes: r.PostForm["scope"],
	}
	reg := privacyv1alpha1.Regulation(f.Regulation)
	rights := s.cfg.Rights(reg)
	if rights == nil {
		errs["regulation"] = "error.choice"
	}
	typ := privacyv1alpha1.RequestType(f.Type)
	if !slices.Contains(rights, typ) && (rights != nil || !s.offered(typ)) {
		errs["type"] = "error.choice"
	}
	sub = intake.Submission{Type: typ, Regulation: reg, Identities: map[string]string{}}
	for _, field := range s.cfg.Identities {
		v := strings.TrimSpace(r.PostFormValue("id-" + field.Type))
		f.Identities[field.Type] = v
		switch {
		case v == "" && field.Required:
			errs["id-"+field.Type] = "error.required"
		case len(v) > 254:
			errs["id-"+field.Type] = "error.tooLong"
		case field.Type == "email" && v != "" && !isEmail(v):
			errs["id-"+field.Type] = "error.email"
		case v != "":
			sub.Identities[field.Type] = v
		}
	}
	switch typ {
	case privacyv1alpha1.RequestTypeCorrect:
		if !fieldName.MatchString(f.CorrectField) {
			errs["correct-field"] = "error.required"
		}
		switch {
		case f.CorrectValue == "":
			errs["correct-value"] = "error.required"
		case len(f.CorrectValue) > 1024:
			errs["correct-value"] = "error.tooLong"
		}
		sub.Corrections = []privacyv1alpha1.Correction{{Field: f.CorrectField, Value: f.CorrectValue}}
	case privacyv1alpha1.RequestTypeOptOut:
		for _, sc := range f.Scopes {
			if !slices.Contains(scopes, sc) {
				errs["scopes"] = "error.choice"
			}
		}
		if len(f.Scopes) == 0 {
			errs["scopes"] = "error.scopes"
		}
		sub.Scopes = f.Scopes
	}
	return f, sub, errs
}

func (s *Server) offered(t privacyv1alpha1.RequestType) bool {
	for _, reg := range s.cfg.Regulations {
		if slices.Contains(reg.Rights, t) {
			return true
		}
	}
	return false
}

// isEmail accepts a bare address (no display name, no comments).
func isEmail(v string) bool {
	a, err := mail.ParseAddress(v)
	return err == nil && a.Address == v && a.Name == "" && strings.Contains(v[strings.LastIndex(v, "@"):], ".")
}

// submit checks the form and, when it is right, mails the person a link
// and a code. The answer is the same whether or not the company knows the
// person: nothing is looked up before they prove the address is theirs.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	f, sub, errs := s.parse(r)
	p, lang := s.page(r, "title.form")
	if len(errs) > 0 {
		s.fillForm(&p, f, errs)
		p.Prefill = r.PostFormValue("prefill")
		s.render(w, r, http.StatusUnprocessableEntity, "form", p)
		return
	}
	if s.fileFromMail(w, r, sub) {
		return
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	sub.Nonce = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(nonce[:]))
	sub.Lang, sub.ReceivedAt = lang.String(), s.now()
	s.sendVerification(w, r, p.T, sub)
}

// sendVerification seals sub into a link and a page token, mails the
// person the link and the page's code, and shows the page where the code
// goes. Over the per-address mail limit nothing is sent and the page says
// the same: the limit must not tell anyone anything.
func (s *Server) sendVerification(w http.ResponseWriter, r *http.Request, t i18n.Printer, sub intake.Submission) {
	payload, err := json.Marshal(sub)
	if err != nil {
		s.fail(w, r, err, "seal submission")
		return
	}
	ttl := s.cfg.LinkTTL.Duration
	link, err := s.ring.Seal(payload, purposeLink, ttl)
	if err != nil {
		s.fail(w, r, err, "seal submission")
		return
	}
	page, err := s.ring.Seal(payload, purposeCode, ttl)
	if err != nil {
		s.fail(w, r, err, "seal submission")
		return
	}
	code, err := s.ring.Code(page)
	if err != nil {
		s.fail(w, r, err, "derive code")
		return
	}
	minutes := strconv.Itoa(int(ttl.Minutes()))
	if s.limits.identity(sub.Identities["email"]) {
		msg := centermail.Message{
			To:      sub.Identities["email"],
			Subject: t("mail.verify.subject", "company", s.cfg.Branding.CompanyName),
			Text: t("mail.verify.text", "company", s.cfg.Branding.CompanyName, "link", strings.TrimSuffix(s.cfg.BaseURL, "/")+"/verify?t="+link,
				"code", code[:3]+" "+code[3:], "minutes", minutes),
		}
		if _, err := s.mailer.Send(r.Context(), msg); err != nil {
			s.fail(w, r, err, "send the verification mail")
			return
		}
	}
	p, _ := s.page(r, "title.check")
	p.Token, p.Minutes = page, minutes
	s.render(w, r, http.StatusOK, "check", p)
}

// admit lets a form post through the client's rate limit and reads its
// (bounded) body, or answers why not.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if !s.limits.client(r) {
		s.message(w, r, http.StatusTooManyRequests, "title.rateLimited", "rateLimited.body", false)
		return false
	}
	if err := r.ParseForm(); err != nil {
		s.message(w, r, http.StatusRequestEntityTooLarge, "title.invalid", "invalid.body", true)
		return false
	}
	return true
}

// fail answers a fault of the center or its dependencies; the log names
// the step, never the person.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, step string) {
	s.log.Error(err, "privacy center request failed", "step", step)
	s.message(w, r, http.StatusServiceUnavailable, "title.error", "error.body", false)
}
