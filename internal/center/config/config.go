// Package config is the privacy center's configuration: what it offers
// (rights per regulation, the identity fields it asks for), how it looks
// (branding), where it files requests, and how long its links live. The
// chart renders it into a ConfigMap; the center reads it once at start.
package config

import (
	"errors"
	"fmt"
	"net/mail"
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

// MailIn is the center's SMTP listener for mail to the privacy address,
// behind the company's MX (which checks SPF/DKIM/DMARC and relays here).
type MailIn struct {
	// Listen is the address the listener binds (default :2525).
	Listen string `json:"listen,omitempty"`
	// Addresses are the recipients accepted (privacy@example.com); mail
	// to anyone else is refused (550).
	Addresses []string `json:"addresses"`
	// MaxMessageBytes bounds a message (default 1 MiB; 64 KiB..25 MiB).
	MaxMessageBytes int64 `json:"maxMessageBytes,omitempty"`
	// LinkTTL is how long the answer's link to the prefilled form works
	// (default 168h; 1h..720h).
	LinkTTL Duration `json:"linkTTL,omitzero"`
	// AllowedRelays are the CIDRs that may deliver (the company's MX);
	// empty allows any peer, which lets anything that reaches the port
	// forge senders past the MX's checks.
	AllowedRelays []string `json:"allowedRelays,omitempty"`
	// AnswersPerMinute bounds the answers sent over all senders (default
	// 60); past it a message is deferred (451) and the MX retries.
	AnswersPerMinute int `json:"answersPerMinute,omitempty"`
}

// Relays are AllowedRelays parsed (Validate checked them).
func (m *MailIn) Relays() []netip.Prefix {
	var out []netip.Prefix
	for _, c := range m.AllowedRelays {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Unsubscribe is the center's one-click unsubscribe links.
type Unsubscribe struct {
	// IssuerTokenFile holds the bearer token the company's mail system
	// presents to POST /unsubscribe-links (a mounted Secret).
	IssuerTokenFile string `json:"issuerTokenFile"`
	// TTL is how long a link works. Default 8760h (a year); 24h to 17520h.
	TTL Duration `json:"ttl,omitzero"`
	// Scopes a link may carry (opt-out scopes the data sources know).
	// Default: email-marketing.
	Scopes []string `json:"scopes,omitempty"`
}

// DRP is the center's Data Rights Protocol endpoints.
type DRP struct {
	// BusinessID is the company's id in the DRP Service Directory: the
	// business-id every message must name.
	BusinessID string `json:"businessID"`
	// Identities maps the identity claims agents send (email,
	// phone_number, name, address) to the identity types the data sources
	// know.
	// Default: email to email.
	Identities map[string]string `json:"identities,omitempty"`
	// VerifyFor is how long a person has to verify their address for an
	// agent's request whose e-mail claim the agent has not verified
	// (need_user_verification); after it the request is expired.
	// Default 7 days, at most 30.
	VerifyFor Duration `json:"verifyFor,omitzero"`
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
	if d := c.DRP; d != nil {
		if d.BusinessID == "" {
			return errors.New("drp.businessID is required: the company's id in the DRP Service Directory")
		}
		for claim, t := range d.Identities {
			if claim != "email" && claim != "phone_number" && claim != "name" && claim != "address" {
				return fmt.Errorf("drp.identities: %q is not a claim agents send (email, phone_number, name, address)", claim)
			}
			if !identityType.MatchString(t) {
				return fmt.Errorf("drp.identities.%s must be an identity type such as email or phone", claim)
			}
		}
		if _, ok := d.Identities["email"]; len(d.Identities) > 0 && !ok {
			return errors.New("drp.identities must map email (the claim every request needs, and the address the person is told at): e.g. email: email")
		}
		if d.VerifyFor.Duration == 0 {
			d.VerifyFor.Duration = 7 * 24 * time.Hour
		}
		if d.VerifyFor.Duration < time.Hour || d.VerifyFor.Duration > 30*24*time.Hour {
			return errors.New("drp.verifyFor must be between 1h and 720h (30 days)")
		}
	}
	if u := c.Unsubscribe; u != nil {
		if u.IssuerTokenFile == "" {
			return errors.New("unsubscribe.issuerTokenFile is required: the bearer token the mail system presents to issue links")
		}
		if u.TTL.Duration == 0 {
			u.TTL.Duration = 365 * 24 * time.Hour
		}
		if u.TTL.Duration < 24*time.Hour || u.TTL.Duration > 2*365*24*time.Hour {
			return errors.New("unsubscribe.ttl must be between 24h and 17520h (two years)")
		}
		if len(u.Scopes) == 0 {
			u.Scopes = []string{"email-marketing"}
		}
		for _, sc := range u.Scopes {
			if !optOutScope.MatchString(sc) || len(sc) > 63 {
				return fmt.Errorf("unsubscribe.scopes: %q is not an opt-out scope (lower-case letters, digits and dashes, as spec.optOut.scopes)", sc)
			}
		}
	}
	if m := c.MailIn; m != nil {
		if m.Listen == "" {
			m.Listen = ":2525"
		}
		if len(m.Addresses) == 0 {
			return errors.New("mailIn.addresses is required: the privacy address(es) people write to")
		}
		for _, a := range m.Addresses {
			if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
				return fmt.Errorf("mailIn.addresses: %q is not a bare address (privacy@example.com)", a)
			}
		}
		if m.MaxMessageBytes == 0 {
			m.MaxMessageBytes = 1 << 20
		}
		if m.MaxMessageBytes < 64<<10 || m.MaxMessageBytes > 25<<20 {
			return errors.New("mailIn.maxMessageBytes must be between 65536 and 26214400")
		}
		if m.LinkTTL.Duration == 0 {
			m.LinkTTL.Duration = 7 * 24 * time.Hour
		}
		if m.LinkTTL.Duration < time.Hour || m.LinkTTL.Duration > 30*24*time.Hour {
			return errors.New("mailIn.linkTTL must be between 1h and 720h")
		}
		for _, c := range m.AllowedRelays {
			if _, err := netip.ParsePrefix(c); err != nil {
				return fmt.Errorf("mailIn.allowedRelays: %q is not a CIDR (10.0.0.0/8, 2001:db8::/32)", c)
			}
		}
		if m.AnswersPerMinute == 0 {
			m.AnswersPerMinute = 60
		}
		if m.AnswersPerMinute < 1 || m.AnswersPerMinute > 6000 {
			return errors.New("mailIn.answersPerMinute must be between 1 and 6000")
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
