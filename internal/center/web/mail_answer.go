package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	centermail "github.com/privacyoperator/privacy-operator/internal/center/mail"
)

// Requests by e-mail: a person writes to the privacy address; the center's
// mail listener (internal/center/mailin) reads what it can and calls
// AnswerMail, which mails the sender a link to the form, prefilled. The
// link went to the sender's mailbox, so a request sent from the form it
// opens, for that same address, needs no second mail: it is filed at
// once. Nothing is filed before the person uses the link.

// purposePrefill seals what the center read from a person's mail.
const purposePrefill = "mail-prefill"

// Prefill is what the center could read from a mail: the sender's address
// and, when the text said so, the right and the law.
type Prefill struct {
	Email      string                      `json:"e"`
	Type       privacyv1alpha1.RequestType `json:"t,omitempty"`
	Regulation privacyv1alpha1.Regulation  `json:"r,omitempty"`
	Lang       string                      `json:"l,omitempty"`
	// ReceivedAt is when the mail arrived: the legal deadline counts from
	// then, not from when the person sends the form.
	ReceivedAt time.Time `json:"at"`
}

// AnswerMail mails p.Email a link to the form prefilled with p. Past the
// per-address mail limit nothing is sent (nil): a forged sender cannot
// make the center mail someone over and over.
func (s *Server) AnswerMail(ctx context.Context, p Prefill) error {
	if !isEmail(p.Email) || !s.limits.identity(p.Email) {
		return nil
	}
	if !slices.Contains(s.cfg.Rights(p.Regulation), p.Type) {
		p.Type = ""
	}
	if s.cfg.Rights(p.Regulation) == nil {
		p.Regulation = ""
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ttl := s.cfg.MailIn.LinkTTL.Duration
	token, err := s.ring.Seal(payload, purposePrefill, ttl)
	if err != nil {
		return err
	}
	t := s.cat.Printer(s.cat.Tag(p.Lang))
	company := s.cfg.Branding.CompanyName
	_, err = s.mailer.Send(ctx, centermail.Message{
		To:      p.Email,
		Subject: t("mail.byMail.subject", "company", company),
		Text: t("mail.byMail.text", "company", company, "link", strings.TrimSuffix(s.cfg.BaseURL, "/")+"/?prefill="+token,
			"days", itoa(int(ttl.Hours()/24))),
	})
	return err
}

// prefilled reads the form's prefill token (from the link, or the form
// posted back), when it opens.
func (s *Server) prefilled(token string) (Prefill, bool) {
	var p Prefill
	if token == "" || s.cfg.MailIn == nil {
		return p, false
	}
	opened, err := s.ring.Open(token, purposePrefill, s.now())
	if err != nil || json.Unmarshal(opened.Payload, &p) != nil || p.Email == "" {
		return p, false
	}
	return p, true
}

// fileFromMail files a form submission made from a mail's link for the
// address the link went to, without a second mail; false when sub is not
// such a submission.
func (s *Server) fileFromMail(w http.ResponseWriter, r *http.Request, sub intake.Submission) bool {
	p, ok := s.prefilled(r.PostFormValue("prefill"))
	if !ok || !strings.EqualFold(p.Email, sub.Identities["email"]) {
		return false
	}
	// Named after the link: the form sent twice from it is one request.
	id, err := s.ring.ID(r.PostFormValue("prefill"))
	if err != nil {
		return false
	}
	sub.Nonce, sub.Lang, sub.ReceivedAt = "m"+id, s.cat.Pick(r).String(), p.ReceivedAt
	s.fileVerified(w, r, sub)
	return true
}
