package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := Load(write("baseURL: https://privacy.example.com\nlinkTTL: 15m\nsmtp: {host: mail.example.com, port: 587, from: privacy@example.com}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.LinkTTL.Duration != 15*time.Minute || c.Branding.CompanyName == "" || len(c.Regulations) != 2 || c.SMTP.Port != 587 {
		t.Fatalf("loaded %+v", c)
	}
	for _, tc := range []struct{ body, want string }{
		{"linkTTL: 15m\n", "baseURL must be"},
		{"baseURL: ftp://x\n", "baseURL must be"},
		{"baseURL: https://p.example\nbranding: {companyName: X, primaryColor: '#ffff00'}\n", "contrast below 4.5:1"},
		{"baseURL: https://p.example\nbranding: {companyName: X, primaryColor: blue}\n", "hex colour"},
		{"baseURL: https://p.example\nidentities: [{type: userId, required: true}]\n", "identities must include email"},
		{"baseURL: https://p.example\nregulations: [{name: GDPR, rights: [Purge]}]\n", "not a right a person can ask for"},
		{"baseURL: https://p.example\nlinkTTL: 48h\n", "linkTTL must be"},
		{"baseURL: https://p.example\nunknownField: 1\n", "unknown field"},
		{"baseURL: https://p.example\ndrp: {}\n", "drp.businessID is required"},
		{"baseURL: https://p.example\ndrp: {businessID: shop, identities: {ssn: ssn}}\n", "not a claim agents send"},
		{"baseURL: https://p.example\ndrp: {businessID: shop, identities: {phone_number: phone}}\n", "drp.identities must map email"},
		{"baseURL: https://p.example\ndrp: {businessID: shop, verifyFor: 10m}\n", "drp.verifyFor must be"},
		{"baseURL: https://p.example\nunsubscribe: {ttl: 1h}\n", "unsubscribe.issuerTokenFile is required"},
		{"baseURL: https://p.example\nunsubscribe: {issuerTokenFile: /t, ttl: 1h}\n", "unsubscribe.ttl must be"},
		{"baseURL: https://p.example\nunsubscribe: {issuerTokenFile: /t, scopes: [Email_Marketing]}\n", "not an opt-out scope"},
		{"baseURL: https://p.example\nmailIn: {}\n", "mailIn.addresses is required"},
		{"baseURL: https://p.example\nmailIn: {addresses: ['Privacy <privacy@example.com>']}\n", "not a bare address"},
		{"baseURL: https://p.example\nmailIn: {addresses: [privacy@example.com], allowedRelays: [10.0.0.1]}\n", "not a CIDR"},
		{"baseURL: https://p.example\nmailIn: {addresses: [privacy@example.com], maxMessageBytes: 10}\n", "mailIn.maxMessageBytes"},
		{"baseURL: https://p.example\nexports: {dir: relative/path}\n", "exports.dir must be an absolute path"},
		{"baseURL: https://p.example\nexports: {dir: /x, s3: {bucket: b}}\n", "set dir or s3, not both"},
		{"baseURL: https://p.example\nexports: {s3: {endpoint: https://s3.example.com}}\n", "exports.s3.bucket is required"},
	} {
		if _, err := Load(write(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.body, err, tc.want)
		}
	}
}

func TestContrast(t *testing.T) {
	if r := contrastWithWhite("#000000"); r < 20.9 || r > 21.1 {
		t.Errorf("black: %v, want 21", r)
	}
	if r := contrastWithWhite("#1f4e8c"); r < 4.5 {
		t.Errorf("the default colour: %v, below 4.5", r)
	}
}
