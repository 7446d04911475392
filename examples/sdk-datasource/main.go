// Command sdk-datasource is a service written with the data-source SDK
// (pkg/datasource): a newsletter's subscriber list, kept in memory, that
// answers Access, Delete, Correct (full_name) and OptOut (scope
// email-marketing) jobs for people found by e-mail. It is the example a service team copies; the subscribers it
// starts with come from a JSON file (a ConfigMap in kubernetes.yaml).
//
//	sdk-datasource --secret-file=/etc/privacy/signing/signingSecret \
//	  --subscribers=/etc/newsletter/subscribers.json --listen=:8080
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// subscriber is one row of the newsletter's list. Field names are the
// company's (full_name, as in the shop's database), so that one Correct
// request reaches every service that holds the field.
type subscriber struct {
	Name       string `json:"full_name"`
	Subscribed bool   `json:"subscribed"`
}

// newsletter is the service's data: e-mail -> subscriber.
type newsletter struct {
	mu   sync.Mutex
	list map[string]subscriber
}

func (n *newsletter) access(_ context.Context, job *protocol.Job) (datasource.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.list[job.Subject.Identities["email"]]
	if !ok {
		return datasource.Result{NotFound: true}, nil
	}
	return datasource.Result{Records: 1, Data: s}, nil
}

func (n *newsletter) delete(_ context.Context, job *protocol.Job) (datasource.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	email := job.Subject.Identities["email"]
	if _, ok := n.list[email]; !ok {
		return datasource.Result{NotFound: true}, nil
	}
	delete(n.list, email)
	return datasource.Result{Records: 1}, nil
}

func (n *newsletter) correct(_ context.Context, job *protocol.Job) (datasource.Result, error) {
	return n.update(job, func(s *subscriber) error {
		for _, c := range job.Corrections {
			if c.Field != "full_name" {
				// Never the value: it is personal data.
				return fmt.Errorf("field %q cannot be corrected here (only full_name)", c.Field)
			}
			s.Name = c.Value
		}
		return nil
	})
}

func (n *newsletter) optOut(_ context.Context, job *protocol.Job) (datasource.Result, error) {
	if job.OptOut == nil || !slices.Contains(job.OptOut.Scopes, "email-marketing") {
		return datasource.Result{Message: "no scope this service serves (email-marketing)"}, nil
	}
	return n.update(job, func(s *subscriber) error {
		s.Subscribed = false
		return nil
	})
}

// update changes the job's subscriber with change.
func (n *newsletter) update(job *protocol.Job, change func(*subscriber) error) (datasource.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	email := job.Subject.Identities["email"]
	s, ok := n.list[email]
	if !ok {
		return datasource.Result{NotFound: true}, nil
	}
	if err := change(&s); err != nil {
		return datasource.Result{}, err
	}
	n.list[email] = s
	return datasource.Result{Records: 1}, nil
}

func main() {
	secretFile := flag.String("secret-file", "", "file holding the signing secret (whsec_...) the DataSource's signingSecretRef names")
	subscribers := flag.String("subscribers", "", "JSON file of the subscribers to start with: {\"e-mail\": {\"full_name\": ..., \"subscribed\": true}}")
	listen := flag.String("listen", ":8080", "address to serve the job protocol on (under /privacy), with /healthz")
	flag.Parse()
	if err := run(*secretFile, *subscribers, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "sdk-datasource:", err)
		os.Exit(1)
	}
}

func run(secretFile, subscribers, listen string) error {
	if secretFile == "" {
		return errors.New("--secret-file is required")
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	n := &newsletter{list: map[string]subscriber{}}
	if subscribers != "" {
		raw, err := os.ReadFile(subscribers)
		if err != nil {
			return fmt.Errorf("--subscribers: %w", err)
		}
		if err := json.Unmarshal(raw, &n.list); err != nil {
			return fmt.Errorf("--subscribers %s: %w", subscribers, err)
		}
	}
	handler, err := datasource.New(datasource.Config{
		Secrets:    []string{strings.TrimSpace(string(secret))},
		Identities: []string{"email"},
		Categories: []string{"contact", "marketing"},
		Access:     n.access,
		Delete:     n.delete,
		Correct:    n.correct,
		OptOut:     n.optOut,
	})
	if err != nil {
		return err
	}
	defer handler.Close()

	mux := http.NewServeMux()
	mux.Handle("/privacy/", http.StripPrefix("/privacy", handler))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("serving the job protocol", "listen", listen, "subscribers", len(n.list))
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
