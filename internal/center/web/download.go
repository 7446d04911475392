package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	centermail "github.com/privacyoperator/privacy-operator/internal/center/mail"
)

// Purposes of the download's tokens.
const (
	purposeDownloadCode = "download-code" // in the page: needs the fresh code
	purposeDownload     = "download"      // in the page: the code was right
)

// downloadTTL is how long the page with the download buttons works.
const downloadTTL = 15 * time.Minute

// deliverTimeout bounds the sending of one export (the server's write
// timeout is shorter, for pages).
const deliverTimeout = 30 * time.Minute

// exportMarker is where the export goes in the rendered page
// (templates/export.html).
const exportMarker = "@@export@@"

// downloadable reports whether pr's export can be handed over now.
func downloadable(pr *privacyv1alpha1.PrivacyRequest, now time.Time) bool {
	exp := pr.Status.Export
	return exp != nil && now.Before(exp.ExpiresAt.Time) && pr.Spec.Type == privacyv1alpha1.RequestTypeAccess
}

// downloadCode asks the person to prove the address again: the status
// link may have been forwarded, the export is theirs alone. It sends a
// fresh code to the request's notice address.
func (s *Server) downloadCode(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	opened, ok := s.open(w, r, r.PathValue("token"), intake.PurposeStatus)
	if !ok {
		return
	}
	pr, ok := s.exportRequest(w, r, string(opened.Payload), "")
	if !ok {
		return
	}
	to, err := intake.AddressOf(s.ring, pr, s.now())
	if err != nil {
		s.fail(w, r, err, "open the notice address")
		return
	}
	ttl := s.cfg.LinkTTL.Duration
	token, err := s.ring.Seal([]byte(pr.Name+"/"+string(pr.UID)), purposeDownloadCode, ttl)
	if err != nil {
		s.fail(w, r, err, "seal the download code")
		return
	}
	code, err := s.ring.Code(token)
	if err != nil {
		s.fail(w, r, err, "derive code")
		return
	}
	p, _ := s.page(r, "title.check")
	minutes := strconv.Itoa(int(ttl.Minutes()))
	// Past the per-address limit no code is issued at all: a forwarded
	// status link must not buy unlimited codes to guess.
	if !s.limits.identity(to.Email) {
		s.message(w, r, http.StatusTooManyRequests, "title.rateLimited", "rateLimited.body", false)
		return
	}
	company := s.cfg.Branding.CompanyName
	msg := centermail.Message{To: to.Email, Subject: p.T("mail.download.subject", "company", company),
		Text: p.T("mail.download.text", "company", company, "code", code[:3]+" "+code[3:], "minutes", minutes)}
	if _, err := s.mailer.Send(r.Context(), msg); err != nil {
		s.fail(w, r, err, "send the download code")
		return
	}
	p.Token, p.Minutes, p.Action, p.CheckBody = token, minutes, "/download", "download.check"
	s.render(w, r, http.StatusOK, "check", p)
}

// downloadVerify checks the fresh code and shows the ways to get the
// export, each a form post with a short-lived token.
func (s *Server) downloadVerify(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	token := r.PostFormValue("t")
	opened, ok := s.open(w, r, token, purposeDownloadCode)
	if !ok {
		return
	}
	id, err := s.ring.ID(token)
	// Wrong codes lock a code after a few, and are bounded per request
	// and hour across fresh codes.
	name, uid, _ := strings.Cut(string(opened.Payload), "/")
	perRequest := "download/" + name
	if err != nil || s.limits.locked(id) {
		s.message(w, r, http.StatusTooManyRequests, "title.check", "error.locked", false)
		return
	}
	if !s.ring.CheckCode(token, r.PostFormValue("code")) {
		lockedCode, withinHour := s.limits.wrongCode(id), s.limits.guess(perRequest)
		if lockedCode || !withinHour {
			s.message(w, r, http.StatusTooManyRequests, "title.check", "error.locked", false)
			return
		}
		p, _ := s.page(r, "title.check")
		p.Token, p.Minutes, p.Action, p.CheckBody = token, strconv.Itoa(int(s.cfg.LinkTTL.Minutes())), "/download", "download.check"
		p.Errors = map[string]string{"code": "error.code"}
		s.render(w, r, http.StatusUnprocessableEntity, "check", p)
		return
	}
	pr, ok := s.exportRequest(w, r, name, uid)
	if !ok {
		return
	}
	grant, err := s.ring.Seal(opened.Payload, purposeDownload, downloadTTL)
	if err != nil {
		s.fail(w, r, err, "seal the download")
		return
	}
	p, _ := s.page(r, "title.download")
	p.Token, p.Minutes = grant, strconv.Itoa(int(downloadTTL.Minutes()))
	p.Export = exportView{SHA256: pr.Status.Export.SHA256, Bytes: strconv.FormatInt(pr.Status.Export.Bytes, 10)}
	s.render(w, r, http.StatusOK, "download", p)
}

// deliver hands the export over as the path's format: recorded on the
// request first (no delivery goes unrecorded), then streamed from the
// store and checked against status.export as it goes. A mismatch breaks
// the connection: the person gets a broken download, never a wrong one.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	format := privacyv1alpha1.DeliveryFormat(r.PathValue("format"))
	if format != privacyv1alpha1.DeliveryJSON && format != privacyv1alpha1.DeliveryHTML {
		http.NotFound(w, r)
		return
	}
	if !s.admit(w, r) {
		return
	}
	opened, ok := s.open(w, r, r.PostFormValue("t"), purposeDownload)
	if !ok {
		return
	}
	name, uid, _ := strings.Cut(string(opened.Payload), "/")
	pr, ok := s.exportRequest(w, r, name, uid)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deliverTimeout)
	defer cancel()
	if format == privacyv1alpha1.DeliveryHTML {
		// A page shows what it reads as it goes: the export is checked
		// whole first, so that a changed one never reaches the screen.
		if err := s.checkWhole(ctx, pr); err != nil {
			s.fail(w, r, err, "check the export")
			return
		}
	}
	export, err := s.exports.Open(ctx, pr)
	if err != nil {
		s.fail(w, r, err, "open the export")
		return
	}
	defer export.Close()
	if err := intake.RecordDelivery(ctx, s.client, pr.Name, format, s.now()); err != nil {
		if errors.Is(err, intake.ErrTooManyDeliveries) {
			s.message(w, r, http.StatusTooManyRequests, "title.tooMany", "tooMany.body", false)
			return
		}
		s.fail(w, r, err, "record the delivery")
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(deliverTimeout))
	if format == privacyv1alpha1.DeliveryJSON {
		s.sendJSON(w, pr, export)
		return
	}
	s.sendPage(w, r, pr, export)
}

func (s *Server) sendJSON(w http.ResponseWriter, pr *privacyv1alpha1.PrivacyRequest, export io.Reader) {
	exp := pr.Status.Export
	sum, _ := hex.DecodeString(exp.SHA256)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="`+pr.Name+`.json"`)
	h.Set("Content-Length", strconv.FormatInt(exp.Bytes, 10))
	// RFC 9530: the checksum of what is sent, for the client to check.
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	w.WriteHeader(http.StatusOK)
	if err := delivery.Copy(w, export); err != nil {
		s.abort(err, pr)
	}
}

func (s *Server) sendPage(w http.ResponseWriter, r *http.Request, pr *privacyv1alpha1.PrivacyRequest, export io.Reader) {
	p, lang := s.page(r, "title.download")
	p.Export = exportView{SHA256: pr.Status.Export.SHA256, Bytes: strconv.FormatInt(pr.Status.Export.Bytes, 10)}
	var buf bytes.Buffer
	if err := s.pages["export"].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.fail(w, r, err, "render the export page")
		return
	}
	head, tail, _ := bytes.Cut(buf.Bytes(), []byte(exportMarker))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(head)
	if err := delivery.Render(w, export, delivery.Printer(s.cat.Printer(lang))); err != nil {
		s.abort(err, pr)
	}
	_, _ = w.Write(tail)
}

// checkWhole reads pr's export through its check, to the end.
func (s *Server) checkWhole(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest) error {
	export, err := s.exports.Open(ctx, pr)
	if err != nil {
		return err
	}
	defer export.Close()
	_, err = io.Copy(io.Discard, export)
	return err
}

// abort ends a delivery that went wrong after its first bytes: the
// connection is broken, so that the client sees an incomplete download.
func (s *Server) abort(err error, pr *privacyv1alpha1.PrivacyRequest) {
	s.log.Error(err, "export delivery broken off", "request", pr.Name)
	panic(http.ErrAbortHandler)
}

// exportRequest reads the request name whose export is asked for (of
// uid, when given), or answers why it cannot be had.
func (s *Server) exportRequest(w http.ResponseWriter, r *http.Request, name, uid string) (*privacyv1alpha1.PrivacyRequest, bool) {
	pr := &privacyv1alpha1.PrivacyRequest{}
	err := s.client.Get(r.Context(), client.ObjectKey{Name: name}, pr)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && uid != "" && string(pr.UID) != uid):
		s.message(w, r, http.StatusGone, "title.exportGone", "exportGone.body", true)
		return nil, false
	case err != nil:
		s.fail(w, r, err, "read the request")
		return nil, false
	case s.exports == nil || !downloadable(pr, s.now()):
		s.message(w, r, http.StatusGone, "title.exportGone", "exportGone.body", true)
		return nil, false
	}
	return pr, true
}
