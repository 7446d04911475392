package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"time"
)

// The other ways in, beside the form: authorized agents (DRP), one-click
// unsubscribe links and mail to the privacy address. Each is off unless
// its block is set; validate fills in its defaults.

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

func (d *DRP) validate() error {
	if d == nil {
		return nil
	}
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
	return nil
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

func (u *Unsubscribe) validate() error {
	if u == nil {
		return nil
	}
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
	return nil
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
	// AnswersPerMinute bounds the answers each replica sends, over all
	// senders (default 60); past it a message is deferred (451) and the MX
	// retries.
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

func (m *MailIn) validate() error {
	if m == nil {
		return nil
	}
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
	return nil
}
