// Command privacy-center is the person's side of Privacy Operator: a web
// server where people file and verify requests and follow them
// (docs/privacy-center.md). It talks to the operator only through the
// Kubernetes API: it creates PrivacyRequests and subject Secrets and reads
// back what it created.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/mail"
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
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("privacy-center")
	if err := run(*configFile, *keysDir, *addr); err != nil {
		log.Error(err, "privacy center stopped")
		os.Exit(1)
	}
}

func run(configFile, keysDir, addr string) error {
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
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	srv, err := web.New(web.Options{Config: cfg, Ring: ring, Mailer: sender, Client: c, Log: ctrl.Log.WithName("privacy-center")})
	if err != nil {
		return err
	}
	hs := &http.Server{Addr: addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
}
