// Package web is the privacy center's HTTP side: the request form, the
// verification of the person's e-mail address (a link and a code), and the
// status page of each request. It keeps no state of its own: an unverified
// submission travels sealed in the link (package seal), a verified one
// becomes a PrivacyRequest through the API (package intake), and the status
// page reads it back.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
	"github.com/privacyoperator/privacy-operator/internal/center/mail"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Mailer sends one message (mail.Sender in production).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (string, error)
}

// Server is the privacy center.
type Server struct {
	cfg    config.Config
	ring   *seal.Ring
	mailer Mailer
	client client.Client
	// exports is where Access exports are read from; nil: the center
	// offers no download.
	exports delivery.Store
	log     logr.Logger
	now     func() time.Time
	// requester is the center's identity (spec.requester).
	requester string
	// issuer is the SHA-256 of the bearer token that issues unsubscribe
	// links (config unsubscribe).
	issuer [32]byte

	cat     *i18n.Catalogs
	pages   map[string]*template.Template
	limits  *limits
	handler http.Handler
}

// Options are the Server's parts.
type Options struct {
	Config config.Config
	Ring   *seal.Ring
	Mailer Mailer
	Client client.Client
	Log    logr.Logger
	// Now is the clock (tests move it); time.Now when nil.
	Now func() time.Time
	// Limits bound submissions and code attempts; DefaultLimits when zero.
	Limits Limits
	// Requester is the center's identity, written into spec.requester.
	Requester string
	// Exports is the operator's export store, read to deliver Access
	// exports; nil offers none.
	Exports delivery.Store
	// DRP serves the Data Rights Protocol under /v1/ and
	// /.well-known/data-rights.json; nil serves none.
	DRP http.Handler
	// Catalogs are the messages (with Config.Messages applied); loaded
	// from the embedded catalogues when nil.
	Catalogs *i18n.Catalogs
	// IssuerToken is the bearer token that issues unsubscribe links
	// (the content of unsubscribe.issuerTokenFile); required with
	// Config.Unsubscribe.
	IssuerToken string
}

// New builds the center's handler.
func New(o Options) (*Server, error) {
	s := &Server{cfg: o.Config, ring: o.Ring, mailer: o.Mailer, client: o.Client, log: o.Log, now: o.Now, requester: o.Requester, exports: o.Exports}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.cat = o.Catalogs; s.cat == nil {
		if s.cat, err = i18n.Load(); err != nil {
			return nil, err
		}
		if err := s.cat.Override(o.Config.Messages); err != nil {
			return nil, err
		}
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if o.Config.Unsubscribe != nil {
		if len(strings.TrimSpace(o.IssuerToken)) < 32 {
			return nil, errors.New("unsubscribe.issuerTokenFile: the token must be at least 32 characters (e.g. openssl rand -base64 32)")
		}
		s.issuer = sha256.Sum256([]byte(strings.TrimSpace(o.IssuerToken)))
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits()
	}
	s.limits = newLimits(o.Limits, o.Config.TrustedProxies)
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.form)
	mux.HandleFunc("POST /requests", s.submit)
	mux.HandleFunc("GET /verify", s.confirm)
	mux.HandleFunc("POST /verify", s.verify)
	if o.Config.Unsubscribe != nil {
		mux.HandleFunc("POST /unsubscribe-links", s.issueUnsubscribe)
		mux.HandleFunc("GET /unsubscribe/{token}", s.unsubscribePage)
		mux.HandleFunc("POST /unsubscribe/{token}", s.unsubscribe)
	}
	mux.HandleFunc("GET /agent-verify", s.agentPage)
	mux.HandleFunc("POST /agent-verify", s.agentSend)
	mux.HandleFunc("GET /status/{token}", s.status)
	mux.HandleFunc("POST /status/{token}/download", s.downloadCode)
	mux.HandleFunc("POST /download", s.downloadVerify)
	mux.HandleFunc("POST /download/{format}", s.deliver)
	if o.DRP != nil {
		mux.Handle("/v1/", o.DRP)
		mux.Handle("GET /.well-known/data-rights.json", o.DRP)
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s.handler = secure(mux)
	return s, nil
}

// ServeHTTP serves the center.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// NewHTTPServer is the center's http.Server on addr: bounded header and
// body reads, so slow clients cannot hold the center's memory or
// connections for long.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10}
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"form", "check", "confirm", "message", "status", "download", "export", "agent", "unsubscribe"} {
		t, err := template.ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}
