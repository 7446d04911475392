package i18n

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

// TestCatalogs: every catalogue holds exactly the English message ids, and
// every id a template or the Go code names is in English.
func TestCatalogs(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.tags) < 2 {
		t.Fatalf("%d languages, want English and at least one other", len(c.tags))
	}
	en := c.byTag[language.English]
	want := slices.Sorted(maps.Keys(en))
	for tag, msgs := range c.byTag {
		if got := slices.Sorted(maps.Keys(msgs)); !slices.Equal(got, want) {
			t.Errorf("%s: ids differ from English", tag)
		}
		for id, m := range msgs {
			if strings.TrimSpace(m) == "" {
				t.Errorf("%s: %s is empty", tag, id)
			}
		}
	}
	p := c.Printer(language.English)
	if got := p("intro", "company", "ACME"); !strings.Contains(got, "ACME") || strings.Contains(got, "{company}") {
		t.Errorf("intro: %q", got)
	}
}

func TestOverride(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Override(map[string]map[string]string{"de": {"mail.completed.subject": "Erledigt, {type}"}}); err != nil {
		t.Fatal(err)
	}
	if got := c.Printer(language.German)("mail.completed.subject", "type", "Auskunft"); got != "Erledigt, Auskunft" {
		t.Errorf("overridden German subject: %q", got)
	}
	if got := c.Printer(language.English)("mail.completed.subject"); got != "Your privacy request is done" {
		t.Errorf("English left alone: %q", got)
	}
	for _, bad := range []map[string]map[string]string{
		{"fr": {"intro": "x"}},
		{"en": {"mail.complete.subject": "x"}},
		{"en": {"intro": " "}},
	} {
		if err := c.Override(bad); err == nil {
			t.Errorf("override %v accepted", bad)
		}
	}
}
