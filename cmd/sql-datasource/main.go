// Command sql-datasource is the reference data source for services that
// keep personal data in PostgreSQL or SQLite: it serves the Privacy
// Operator's job protocol and executes each job against the database
// according to a declarative mapping file (see internal/datasource/sqlsource and
// docs/sql-datasource.md). Run it beside the database, as a sidecar or a
// Deployment of its own, and register it with a DataSource.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/datasource/sqlsource"
	"github.com/privacyoperator/privacy-operator/internal/version"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "sql-datasource:", err)
		os.Exit(1)
	}
}

type config struct {
	mapping, dsn, secretsFile, listen, basePath, tlsCert, tlsKey, hashKeyFile string
	callbackCAFile                                                            string
	purgeBatch                                                                int
	recordTTL, startupTimeout, retryAfter                                     time.Duration
	// version: print the build and exit (--version).
	version bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("sql-datasource", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mapping, "mapping", "", "mapping file (YAML) from the job protocol to the database's tables (required)")
	fs.StringVar(&c.dsn, "dsn", os.Getenv("SQL_DATASOURCE_DSN"),
		"database: postgres://user@host/db or sqlite:/path/file.db (default $SQL_DATASOURCE_DSN; prefer the variable, a flag shows in ps)")
	fs.StringVar(&c.secretsFile, "secrets-file", os.Getenv("SQL_DATASOURCE_SECRETS_FILE"),
		"file holding the whsec_ signing secret(s) shared with the operator, separated by white space, as in the DataSource's Secret (default $SQL_DATASOURCE_SECRETS_FILE)")
	fs.StringVar(&c.listen, "listen", ":8080", "address to serve the job protocol on")
	fs.StringVar(&c.basePath, "base-path", "", "path prefix of the job protocol, as in the DataSource's endpoint path (e.g. /privacy)")
	fs.StringVar(&c.tlsCert, "tls-cert-file", "", "serve HTTPS with this certificate (and --tls-key-file)")
	fs.StringVar(&c.tlsKey, "tls-key-file", "", "private key for --tls-cert-file")
	fs.StringVar(&c.callbackCAFile, "callback-ca-file", os.Getenv("SQL_DATASOURCE_CALLBACK_CA_FILE"),
		"PEM of the CA that signs the operator's callback listener, trusted besides the system roots: mount ca.crt of the ConfigMap privacy-operator-callback-ca (default $SQL_DATASOURCE_CALLBACK_CA_FILE)")
	fs.StringVar(&c.hashKeyFile, "hash-key-file", "",
		"key for \"hash\" anonymization; without it a random key is made at start, so the same value hashes differently after a restart")
	fs.IntVar(&c.purgeBatch, "purge-batch", 1000, "rows one purge transaction changes at most (bounds lock time)")
	fs.DurationVar(&c.recordTTL, "job-record-ttl", 90*24*time.Hour, "how long applied job ids are remembered")
	fs.DurationVar(&c.startupTimeout, "startup-timeout", 2*time.Minute, "how long to wait for the database at start")
	fs.DurationVar(&c.retryAfter, "retry-after", 5*time.Second, "Retry-After asked of the operator while the database is down")
	fs.BoolVar(&c.version, "version", false, "print the version and the commit it was built from, then exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.version {
		return c, nil
	}
	var missing []string
	if c.mapping == "" {
		missing = append(missing, "--mapping")
	}
	if c.dsn == "" {
		missing = append(missing, "--dsn (or $SQL_DATASOURCE_DSN)")
	}
	if c.secretsFile == "" {
		missing = append(missing, "--secrets-file (or $SQL_DATASOURCE_SECRETS_FILE)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	c.basePath = strings.TrimSuffix(c.basePath, "/")
	if c.basePath != "" && !strings.HasPrefix(c.basePath, "/") {
		return nil, fmt.Errorf("--base-path must start with /, got %q", c.basePath)
	}
	if c.purgeBatch <= 0 {
		return nil, errors.New("--purge-batch must be positive")
	}
	return c, nil
}

// run serves until ctx ends. ready, when set, is told the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.version {
		version.Print(os.Stdout, "sql-datasource")
		return nil
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	mapping, err := sqlsource.LoadMapping(c.mapping)
	if err != nil {
		return err
	}
	secrets, err := readSecrets(c.secretsFile)
	if err != nil {
		return err
	}
	hashKey, err := readHashKey(c.hashKeyFile, log)
	if err != nil {
		return err
	}
	db, dialect, err := sqlsource.Open(c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	src := sqlsource.New(db, dialect, mapping, sqlsource.Options{PurgeBatch: c.purgeBatch, HashKey: hashKey, RetryAfter: c.retryAfter})
	if err := prepare(ctx, src, c.startupTimeout, log); err != nil {
		return err
	}
	cfg := src.Config()
	cfg.Secrets = secrets
	cfg.Logger = log
	if c.callbackCAFile != "" {
		if cfg.CallbackCABundle, err = os.ReadFile(c.callbackCAFile); err != nil {
			return fmt.Errorf("--callback-ca-file: %w", err)
		}
	}
	handler, err := datasource.New(cfg)
	if err != nil {
		return err
	}
	defer handler.Close()
	go pruneRecords(ctx, cfg.Store.(*sqlsource.Store), c.recordTTL, log)

	return serve(ctx, c, newMux(c.basePath, handler, db), func(addr string) {
		log.Info("serving the job protocol", "address", addr, "database", dialect, "tables", len(mapping.Tables),
			"identities", cfg.Identities, "categories", cfg.Categories, "tls", c.tlsCert != "")
		if ready != nil {
			ready(addr)
		}
	})
}

// newMux serves the job protocol under basePath, beside the probes, which
// are unsigned and outside it.
func newMux(basePath string, handler http.Handler, db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.PingContext(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	if basePath == "" {
		mux.Handle("/", handler)
	} else {
		mux.Handle(basePath+"/", http.StripPrefix(basePath, handler))
	}
	return mux
}

// serve serves h on c.listen until ctx ends, then shuts down gracefully.
// started is told the listening address once requests can arrive.
func serve(ctx context.Context, c *config, h http.Handler, started func(addr string)) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if c.tlsCert != "" {
			errc <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	started(ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// prepare waits for the database (it may start after this server) and
// checks the mapping against it. A mapping that does not fit fails at once.
func prepare(ctx context.Context, src *sqlsource.Source, timeout time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Second; ; wait = min(2*wait, 15*time.Second) {
		err := src.Prepare(ctx)
		if err == nil || !sqlsource.IsDatabaseUnavailable(err) {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("database not reachable within --startup-timeout=%s: %w", timeout, err)
		}
		log.Warn("waiting for the database", "error", err.Error(), "retryIn", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func pruneRecords(ctx context.Context, store *sqlsource.Store, ttl time.Duration, log *slog.Logger) {
	for {
		if n, err := store.Prune(ctx, ttl); err != nil {
			log.Warn("pruning job records failed", "error", err.Error())
		} else if n > 0 {
			log.Info("pruned job records", "records", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

func readSecrets(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing secrets: %w", err)
	}
	secrets := strings.Fields(string(data))
	if len(secrets) == 0 {
		return nil, fmt.Errorf("signing secrets: %s holds no secret", path)
	}
	return secrets, nil
}

func readHashKey(path string, log *slog.Logger) ([]byte, error) {
	if path == "" {
		log.Warn("no --hash-key-file: hashed values are not comparable across restarts")
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	if len(strings.TrimSpace(string(key))) < 16 {
		return nil, fmt.Errorf("hash key: %s must hold at least 16 bytes", path)
	}
	return []byte(strings.TrimSpace(string(key))), nil
}
