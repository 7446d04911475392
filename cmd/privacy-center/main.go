// Command privacy-center is the person's side of Privacy Operator: a web
// server where people file and verify requests and follow them
// (docs/privacy-center.md). It talks to the operator only through the
// Kubernetes API: it creates PrivacyRequests and subject Secrets and reads
// back what it created.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/mail"
	"github.com/privacyoperator/privacy-operator/internal/center/mailin"
	"github.com/privacyoperator/privacy-operator/internal/center/notify"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		version.Print(os.Stdout, "privacy-center")
		return
	}
	configFile := flag.String("config", "/etc/privacy-center/config.yaml", "the center's configuration (docs/privacy-center.md)")
	keysDir := flag.String("keys-dir", "/etc/privacy-center/keys", "the sealing keys: a mounted Secret, one base64 key of 32 bytes per file")
	addr := flag.String("bind-address", ":8080", "where the center listens (behind an Ingress that terminates TLS)")
	leaderElect := flag.Bool("leader-elect", true, "elect one replica to send the notices (each notice once); false only with one replica")
	leaseNamespace := flag.String("leader-election-namespace", os.Getenv("POD_NAMESPACE"), "the namespace of the notices' Lease (default: the pod's)")
	requester := flag.String("requester", ownIdentity(), "spec.requester of the requests the center files: its own identity as the API server knows it (default: system:serviceaccount:$POD_NAMESPACE:$SERVICE_ACCOUNT_NAME when both are set; empty leaves it to the requester policy)")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("privacy-center")
	if err := run(*configFile, *keysDir, *addr, *leaderElect, *leaseNamespace, *requester); err != nil {
		log.Error(err, "privacy center stopped")
		os.Exit(1)
	}
}

// ownIdentity is the pod's ServiceAccount's user name, from the downward
// API's POD_NAMESPACE and SERVICE_ACCOUNT_NAME.
func ownIdentity() string {
	ns, sa := os.Getenv("POD_NAMESPACE"), os.Getenv("SERVICE_ACCOUNT_NAME")
	if ns == "" || sa == "" {
		return ""
	}
	return "system:serviceaccount:" + ns + ":" + sa
}

func run(configFile, keysDir, addr string, leaderElect bool, leaseNamespace, requester string) error {
	cfg, err := config.Load(configFile)
	if err != nil {
		return err
	}
	ring, err := seal.Load(keysDir)
	if err != nil {
		return err
	}
	sender, err := mail.New(mail.Config{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: mail.TLSMode(cfg.SMTP.TLS),
		UsernameFile: cfg.SMTP.UsernameFile, PasswordFile: cfg.SMTP.PasswordFile, CAFile: cfg.SMTP.CAFile,
		From: cfg.SMTP.From, Timeout: cfg.SMTP.Timeout.Duration,
	})
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), privacyv1alpha1.AddToScheme(scheme)); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		LeaderElection: leaderElect, LeaderElectionID: "privacy-center-notices", LeaderElectionNamespace: leaseNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return err
	}
	cat, err := i18n.Load()
	if err != nil {
		return err
	}
	if err := cat.Override(cfg.Messages); err != nil {
		return fmt.Errorf("%s: %w", configFile, err)
	}
	notifier := &notify.Notifier{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Ring: ring, Mailer: sender, Catalogs: cat, BaseURL: cfg.BaseURL,
		Company: cfg.Branding.CompanyName, StatusTTL: cfg.StatusTTL.Duration, Now: time.Now, Deliverable: cfg.Exports.Dir != "" || cfg.Exports.S3 != nil}
	if err := notifier.SetupWithManager(mgr); err != nil {
		return err
	}
	// The pages read and write through the API, not the notices' cache: a
	// status page right after filing must find the request.
	direct, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	var exports delivery.Store
	switch {
	case cfg.Exports.Dir != "":
		exports = delivery.Dir{Root: cfg.Exports.Dir}
	case cfg.Exports.S3 != nil:
		s3, err := delivery.NewS3(cfg.Exports.S3.Conn(), cfg.Exports.S3.Bucket)
		if err != nil {
			return fmt.Errorf("exports.s3: %w", err)
		}
		exports = s3
	}
	var agents http.Handler
	if d := cfg.DRP; d != nil {
		// The elected replica tells agents of status changes.
		// An Access request's results are collected at its status page
		// (a fresh code to the person's address hands the export over).
		describer := drp.Describer{ResultsURL: func(name string) (string, error) {
			status, err := ring.Seal([]byte(name), intake.PurposeStatus, cfg.StatusTTL.Duration)
			return strings.TrimSuffix(cfg.BaseURL, "/") + "/status/" + status, err
		}}
		if err := (&drp.Callbacks{Client: mgr.GetClient(), HTTP: drp.NewCallbackClient(), Describer: describer}).SetupWithManager(mgr); err != nil {
			return err
		}
		ids := d.Identities
		if len(ids) == 0 {
			ids = map[string]string{"email": "email"}
		}
		agents = (&drp.Server{Client: direct, Agents: mgr.GetClient(), BusinessID: d.BusinessID, APIBase: cfg.BaseURL,
			SubjectNamespace: cfg.SubjectNamespace, Requester: requester, Suspend: cfg.RequireApproval, Identities: ids,
			SealAddress: func(email string) (string, error) {
				address, err := json.Marshal(intake.Address{Email: email, Lang: "en"})
				if err != nil {
					return "", err
				}
				return ring.Seal(address, intake.PurposeNotify, cfg.StatusTTL.Duration)
			},
			Verify: func(sub intake.Submission) (string, error) {
				payload, err := json.Marshal(sub)
				if err != nil {
					return "", err
				}
				page, err := ring.Seal(payload, intake.PurposeAgentVerify, d.VerifyFor.Duration)
				return strings.TrimSuffix(cfg.BaseURL, "/") + "/agent-verify?t=" + page, err
			},
			VerifyFor: d.VerifyFor.Duration, Describer: describer,
			Log: ctrl.Log.WithName("drp")}).Handler()
	}
	var issuer string
	if u := cfg.Unsubscribe; u != nil {
		b, err := os.ReadFile(u.IssuerTokenFile)
		if err != nil {
			return fmt.Errorf("unsubscribe.issuerTokenFile: %w", err)
		}
		issuer = string(b)
	}
	srv, err := web.New(web.Options{Config: cfg, Ring: ring, Mailer: sender, Client: direct, Log: ctrl.Log.WithName("privacy-center"),
		Requester: requester, Catalogs: cat, Exports: exports, DRP: agents, IssuerToken: issuer})
	if err != nil {
		return err
	}
	if m := cfg.MailIn; m != nil {
		// Mail to the privacy address: every replica listens, behind the
		// company's MX; each message is answered with a prefilled form.
		in := mailin.New(m.Listen, mailin.Options{Addresses: m.Addresses, Domain: hostOf(cfg.BaseURL), MaxMessageBytes: m.MaxMessageBytes,
			Relays: m.Relays(), Answers: rate.NewLimiter(rate.Every(time.Minute/time.Duration(m.AnswersPerMinute)), m.AnswersPerMinute),
			Log: ctrl.Log.WithName("mail-in"), Answer: func(ctx context.Context, r mailin.Read) error {
				return srv.AnswerMail(ctx, web.Prefill{Email: r.From, Type: r.Type, Regulation: r.Regulation, Lang: r.Lang, ReceivedAt: r.ReceivedAt})
			}})
		if err := mgr.Add(serveAlways(func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				_ = in.Close()
			}()
			ctrl.Log.WithName("mail-in").Info("receiving mail", "address", m.Listen)
			if err := in.ListenAndServe(); !errors.Is(err, mailin.ErrClosed) {
				return err
			}
			return nil
		})); err != nil {
			return err
		}
	}
	hs := web.NewHTTPServer(addr, srv)
	// Every replica serves pages; only the leader sends notices.
	if err := mgr.Add(serveAlways(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = hs.Shutdown(shutdown)
		}()
		ctrl.Log.WithName("privacy-center").Info("serving", "address", addr, "version", version.Get().String())
		if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// hostOf is the host of the center's base URL (the mail listener's
// greeting).
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// serveAlways is a runnable that runs on every replica, leader or not.
type serveAlways func(ctx context.Context) error

func (f serveAlways) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection: no, every replica serves.
func (serveAlways) NeedLeaderElection() bool { return false }
