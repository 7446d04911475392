// Package config is the privacy center's configuration: what it offers
// (rights per regulation, the identity fields it asks for), how it looks
// (branding), where it files requests, and how long its links live. The
// chart renders it into a ConfigMap; the center reads it once at start.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/s3conn"
)

// Config is the center's configuration file.
type Config struct {
	// BaseURL is the center's public URL, the start of every link in a
	// mail (https://privacy.example.com).
	BaseURL string `json:"baseURL"`
	// Branding is how the pages look.
	Branding Branding `json:"branding"`
	// Regulations offered, each with its rights; the first is the default.
	Regulations []Regulation `json:"regulations"`
	// Identities are the fields the form asks for; email is required (the
	// center verifies the person through it).
	Identities []IdentityField `json:"identities"`
	// SubjectNamespace holds the subject Secrets the center creates (one of
	// the operator's --subject-secret-namespaces).
	SubjectNamespace string `json:"subjectNamespace"`
	// RequireApproval files requests suspended, for a reviewer to approve
	// (the person is told that the request is being reviewed).
	RequireApproval bool `json:"requireApproval"`
	// LinkTTL is how long a verification link and its code work.
	LinkTTL Duration `json:"linkTTL"`
	// StatusTTL is how long a status link works.
	StatusTTL Duration `json:"statusTTL"`
	// SMTP is where the center's mail goes.
	SMTP SMTP `json:"smtp"`
	// TrustedProxies are the CIDRs of the proxies in front of the center
	// (the Ingress controller's pods): from them, the client's address is
	// taken from X-Forwarded-For (the rightmost address that is not a
	// trusted proxy) for the per-client rate limit.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// Messages override the catalogues' texts, by language and message id
	// (mail.completed.text, intro, ...): the pages' and the notices'
	// wording is the company's to choose. An unknown language or id stops
	// the center at start.
	Messages map[string]map[string]string `json:"messages,omitempty"`
	// Exports is where the operator writes Access exports, for the center
	// to hand them to people. Unset, the center tells people their data
	// is ready but offers no download.
	Exports Exports `json:"exports,omitzero"`
	// DRP serves the Data Rights Protocol to authorized agents (the
	// AuthorizedAgents registered in the cluster); unset, it is not served.
	DRP *DRP `json:"drp,omitempty"`
	// Unsubscribe issues and serves one-click unsubscribe links (RFC
	// 8058) for the company's marketing mail; unset, they are not served.
	Unsubscribe *Unsubscribe `json:"unsubscribe,omitempty"`
	// MailIn receives mail sent to the privacy address (requests by
	// e-mail); unset, no mail is received.
	MailIn *MailIn `json:"mailIn,omitempty"`
}

// Exports locates the operator's export store, which the center reads:
// one of Dir and S3.
type Exports struct {
	// Dir is the operator's export directory (--export-dir), mounted
	// read-only into the center.
	Dir string `json:"dir,omitempty"`
	// S3 is the operator's export bucket (--export-s3).
	S3 *S3 `json:"s3,omitempty"`
}

// S3 is a bucket and how to reach it; credentials need only
// s3:GetObject on the operator's export prefix.
type S3 struct {
	Bucket string `json:"bucket"`
	// Endpoint is https://host[:port] (or http://); empty: AWS S3.
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// PathStyle addresses the bucket as https://host/bucket/key.
	PathStyle bool `json:"pathStyle,omitempty"`
	// CAFile holds PEM certificates to trust besides the system's.
	CAFile string `json:"caFile,omitempty"`
	// CredentialsDir is a mounted Secret with AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN optional); empty: the SDK's
	// chain (environment, IRSA / Pod Identity, instance profile).
	CredentialsDir string `json:"credentialsDir,omitempty"`
}

// Conn is how the center reaches the bucket.
func (s S3) Conn() s3conn.Config {
	return s3conn.Config{Endpoint: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle, CAFile: s.CAFile, CredentialsDir: s.CredentialsDir}
}

// SMTP is the mail server; credentials are files of a mounted Secret.
type SMTP struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// TLS is none, starttls (the default) or tls.
	TLS          string   `json:"tls,omitempty"`
	UsernameFile string   `json:"usernameFile,omitempty"`
	PasswordFile string   `json:"passwordFile,omitempty"`
	CAFile       string   `json:"caFile,omitempty"`
	From         string   `json:"from"`
	Timeout      Duration `json:"timeout,omitzero"`
}

// Branding is the company's name, logo, privacy policy and colours.
type Branding struct {
	CompanyName string `json:"companyName"`
	LogoURL     string `json:"logoURL,omitempty"`
	PolicyURL   string `json:"policyURL,omitempty"`
	// PrimaryColor is a CSS hex colour for buttons and links; it must keep
	// a contrast of at least 4.5:1 with white text.
	PrimaryColor string `json:"primaryColor,omitempty"`
}

// Regulation is one regulation and the rights the center offers under it.
type Regulation struct {
	Name   privacyv1alpha1.Regulation    `json:"name"`
	Rights []privacyv1alpha1.RequestType `json:"rights"`
}

// IdentityField is one identity the form asks for.
type IdentityField struct {
	// Type is the identity type the operator and sources know (email,
	// userId, phone...).
	Type string `json:"type"`
	// Required fields must be filled in.
	Required bool `json:"required,omitempty"`
}

// Duration is a time.Duration written as "30m".
type Duration struct{ time.Duration }

// UnmarshalJSON reads "30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration such as \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Defaults: Access, Delete, Correct and OptOut under GDPR and CCPA, the
// person's e-mail, links for 30 minutes, status links for 400 days (past
// the longest deadline with its extension, and a while to come back).
func Defaults() Config {
	rights := []privacyv1alpha1.RequestType{
		privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete,
		privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut,
	}
	return Config{
		Branding:         Branding{CompanyName: "Example Company", PrimaryColor: "#1f4e8c"},
		Regulations:      []Regulation{{Name: privacyv1alpha1.RegulationGDPR, Rights: rights}, {Name: privacyv1alpha1.RegulationCCPA, Rights: rights}},
		Identities:       []IdentityField{{Type: "email", Required: true}},
		SubjectNamespace: "privacy-operator-system",
		LinkTTL:          Duration{30 * time.Minute},
		StatusTTL:        Duration{400 * 24 * time.Hour},
	}
}

// Load reads the file at path over the defaults and checks it.
func Load(path string) (Config, error) {
	c := Defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var (
	hexColor     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	identityType = regexp.MustCompile(`^[a-z][a-zA-Z0-9]{0,62}$`)
	optOutScope  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// Validate names the first field that cannot work.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("baseURL must be the center's absolute public URL, e.g. https://privacy.example.com")
	}
	if c.Branding.CompanyName == "" {
		return errors.New("branding.companyName is required")
	}
	if c.Branding.PrimaryColor != "" && !hexColor.MatchString(c.Branding.PrimaryColor) {
		return errors.New("branding.primaryColor must be a hex colour such as #1f4e8c")
	}
	if c.Branding.PrimaryColor != "" && contrastWithWhite(c.Branding.PrimaryColor) < 4.5 {
		return fmt.Errorf("branding.primaryColor %s gives white text a contrast below 4.5:1 (WCAG AA): choose a darker colour", c.Branding.PrimaryColor)
	}
	for _, link := range []struct{ name, v string }{{"branding.logoURL", c.Branding.LogoURL}, {"branding.policyURL", c.Branding.PolicyURL}} {
		if link.v == "" {
			continue
		}
		if u, err := url.Parse(link.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%s must be an absolute http(s) URL", link.name)
		}
	}
	if len(c.Regulations) == 0 {
		return errors.New("regulations: offer at least one")
	}
	for i, r := range c.Regulations {
		if !slices.Contains([]privacyv1alpha1.Regulation{privacyv1alpha1.RegulationGDPR, privacyv1alpha1.RegulationCCPA, privacyv1alpha1.RegulationOther}, r.Name) {
			return fmt.Errorf("regulations[%d].name must be GDPR, CCPA or Other", i)
		}
		if len(r.Rights) == 0 {
			return fmt.Errorf("regulations[%d].rights: offer at least one", i)
		}
		for _, t := range r.Rights {
			if !slices.Contains([]privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete,
				privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut}, t) {
				return fmt.Errorf("regulations[%d].rights: %q is not a right a person can ask for (Access, Delete, Correct, OptOut)", i, t)
			}
		}
	}
	hasEmail := false
	seen := map[string]bool{}
	for i, f := range c.Identities {
		if !identityType.MatchString(f.Type) {
			return fmt.Errorf("identities[%d].type must be an identity type such as email or userId", i)
		}
		if seen[f.Type] {
			return fmt.Errorf("identities[%d].type %s is listed twice", i, f.Type)
		}
		seen[f.Type] = true
		hasEmail = hasEmail || (f.Type == "email" && f.Required)
	}
	if !hasEmail {
		return errors.New("identities must include email, required: the center verifies the person by e-mail")
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return fmt.Errorf("trustedProxies[%d] must be a CIDR such as 10.0.0.0/8", i)
		}
	}
	if c.Exports.Dir != "" && !filepath.IsAbs(c.Exports.Dir) {
		return errors.New("exports.dir must be an absolute path: where the operator's export directory is mounted")
	}
	if s3 := c.Exports.S3; s3 != nil {
		if c.Exports.Dir != "" {
			return errors.New("exports: set dir or s3, not both (the operator writes to one)")
		}
		if s3.Bucket == "" {
			return errors.New("exports.s3.bucket is required: the operator's export bucket")
		}
		if _, _, err := s3.Conn().Host(); err != nil {
			return fmt.Errorf("exports.s3.endpoint: %w", err)
		}
	}
	for _, part := range []interface{ validate() error }{c.DRP, c.Unsubscribe, c.MailIn} {
		if err := part.validate(); err != nil {
			return err
		}
	}
	if c.SubjectNamespace == "" {
		return errors.New("subjectNamespace is required")
	}
	if c.LinkTTL.Duration < time.Minute || c.LinkTTL.Duration > 24*time.Hour {
		return errors.New("linkTTL must be between 1m and 24h")
	}
	if c.StatusTTL.Duration < 24*time.Hour {
		return errors.New("statusTTL must be at least 24h")
	}
	return nil
}

// Rights returns the rights offered under regulation, or nil.
func (c Config) Rights(regulation privacyv1alpha1.Regulation) []privacyv1alpha1.RequestType {
	for _, r := range c.Regulations {
		if r.Name == regulation {
			return r.Rights
		}
	}
	return nil
}
