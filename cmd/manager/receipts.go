package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/wiring"
)

// defaultReceiptDir is --receipt-dir's default, the receipts volume's mount
// point in the shipped Deployment.
const defaultReceiptDir = "/var/lib/privacy-operator/receipts"

// defaultReceiptRetention is 24 months (two years of 365.5 days), as CCPA
// regulations section 7101 require records of requests to be kept.
const defaultReceiptRetention = days(731 * 24 * time.Hour)

// receiptFlags are the receipt store's settings.
type receiptFlags struct {
	dir, url  string
	retention days
}

// days is a duration flag that also takes whole days ("731d").
type days time.Duration

func (d *days) String() string {
	if *d%days(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(time.Duration(*d)/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(*d).String()
}

func (d *days) Set(v string) error {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		i, err := strconv.ParseInt(n, 10, 32)
		if err != nil || i < 0 {
			return fmt.Errorf("%q: want whole days such as 731d, or a duration such as 17544h", v)
		}
		*d = days(time.Duration(i) * 24 * time.Hour)
		return nil
	}
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return fmt.Errorf("%q: want whole days such as 731d, or a duration such as 17544h", v)
	}
	*d = days(t)
	return nil
}

func (r *receiptFlags) bind(fs *flag.FlagSet) {
	r.retention = defaultReceiptRetention
	fs.StringVar(&r.dir, "receipt-dir", defaultReceiptDir,
		"Directory of the signed receipts of finished requests and retention runs (a PersistentVolume in a cluster). When the default "+
			"cannot be created (not root), $XDG_STATE_HOME/privacy-operator/receipts (~/.local/state/...) is used and the log says so.")
	fs.StringVar(&r.url, "receipt-url", "",
		"Keep receipts in S3-compatible object storage instead: s3://bucket/prefix, the prefix this install's alone, with optional parameters "+
			"endpoint, region, pathStyle, caFile, sse, sseKMSKeyID, credentialsDir, installID as in --export-url; see docs/receipts.md.")
	fs.Var(&r.retention, "receipt-retention",
		"How long receipts are kept: an hourly sweep removes older ones (and records that it did in the log). Whole days (731d) or a duration. "+
			"Default 731d (24 months, CCPA regulations section 7101); use the bucket's object lock as the stronger backstop.")
}

// store is the receipt store the flags name.
func (r receiptFlags) store() (*wiring.ReceiptOptions, error) {
	if time.Duration(r.retention) > 0 && time.Duration(r.retention) < 24*time.Hour {
		return nil, fmt.Errorf("--receipt-retention %s is shorter than a day: receipts are the proof that requests were honoured; "+
			"regulations ask for 24 months (731d)", r.retention.String())
	}
	opts := &wiring.ReceiptOptions{Retention: time.Duration(r.retention)}
	if r.url != "" {
		cfg, err := receipt.ParseURL(r.url, export.S3Config{})
		if err != nil {
			return nil, fmt.Errorf("--receipt-url: %w", err)
		}
		s, err := receipt.NewS3Store(cfg)
		if err != nil {
			return nil, fmt.Errorf("--receipt-url: %w", err)
		}
		opts.Store = s
		setupLog.Info("receipts go to object storage", "location", s.Location(""))
		return opts, nil
	}
	dir, err := stateDir("receipt-dir", r.dir, defaultReceiptDir, "receipts")
	if err != nil {
		return nil, err
	}
	if opts.Store, err = receipt.NewDirStore(dir); err != nil {
		return nil, fmt.Errorf("--receipt-dir: %w", err)
	}
	return opts, nil
}

// stateDir is the directory a flag names, created. The default needs root
// on a laptop; when it cannot be created and the flag was not given, the
// user's state directory is used instead, and the log says so with the
// flag to use. A directory given explicitly that cannot be made is an
// error.
func stateDir(flagName, dir, def, sub string) (string, error) {
	explicit := false
	flag.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == flagName })
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		return dir, nil
	}
	refused := fmt.Errorf("--%s %s cannot be created (%w): pass a directory the operator may write", flagName, dir, err)
	if explicit || dir != def {
		return "", refused
	}
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", refused
		}
		state = filepath.Join(home, ".local", "state")
	}
	fallback := filepath.Join(state, "privacy-operator", sub)
	setupLog.Info("the default directory cannot be created here (it needs root); the user's state directory is used instead. Set --"+flagName+" to choose.",
		"default", dir, "using", fallback, "reason", err.Error())
	return fallback, nil
}
