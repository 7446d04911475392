// Package i18n holds the privacy center's message catalogues (one JSON file
// per language, English the reference) and picks a person's language.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

//go:embed catalog/*.json
var catalogFiles embed.FS

// Catalogs holds each language's messages, by message id. English is the
// fallback and the reference: every catalogue holds exactly its ids (a
// test checks it).
type Catalogs struct {
	byTag   map[language.Tag]map[string]string
	tags    []language.Tag // English first
	matcher language.Matcher
}

func Load() (*Catalogs, error) {
	entries, err := catalogFiles.ReadDir("catalog")
	if err != nil {
		return nil, err
	}
	c := &Catalogs{byTag: map[language.Tag]map[string]string{}, tags: []language.Tag{language.English}}
	for _, e := range entries {
		b, err := catalogFiles.ReadFile(path.Join("catalog", e.Name()))
		if err != nil {
			return nil, err
		}
		msgs := map[string]string{}
		if err := json.Unmarshal(b, &msgs); err != nil {
			return nil, fmt.Errorf("catalog %s: %w", e.Name(), err)
		}
		tag, err := language.Parse(strings.TrimSuffix(e.Name(), ".json"))
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", e.Name(), err)
		}
		c.byTag[tag] = msgs
		if tag != language.English {
			c.tags = append(c.tags, tag)
		}
	}
	if c.byTag[language.English] == nil {
		return nil, fmt.Errorf("no English catalog")
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// Pick chooses the language: the lang parameter (the page's language
// switch), else the lang cookie, else Accept-Language.
func (c *Catalogs) Pick(r *http.Request) language.Tag {
	var prefs []string
	if v := r.URL.Query().Get("lang"); v != "" {
		prefs = append(prefs, v)
	} else if v := r.PostFormValue("lang"); v != "" {
		prefs = append(prefs, v)
	}
	if ck, err := r.Cookie("lang"); err == nil {
		prefs = append(prefs, ck.Value)
	}
	for _, p := range prefs {
		if t, err := language.Parse(p); err == nil {
			if _, i, conf := c.matcher.Match(t); conf >= language.High {
				return c.tags[i]
			}
		}
	}
	accept, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := c.matcher.Match(accept...)
	return c.tags[i]
}

// Printer prints message id with {name} replaced by args (name, value
// pairs).
type Printer func(id string, args ...string) string

// Printer returns the message of id in lang with {name} replaced by args
// (name, value pairs); an id unknown in lang falls back to English.
func (c *Catalogs) Printer(lang language.Tag) Printer {
	msgs, en := c.byTag[lang], c.byTag[language.English]
	return func(id string, args ...string) string {
		m, ok := msgs[id]
		if !ok {
			m, ok = en[id]
		}
		if !ok {
			return id
		}
		for i := 0; i+1 < len(args); i += 2 {
			m = strings.ReplaceAll(m, "{"+args[i]+"}", args[i+1])
		}
		return m
	}
}

// Others are the languages the switch offers besides lang.
func (c *Catalogs) Others(lang language.Tag) []LangLink {
	var out []LangLink
	for _, t := range c.tags {
		if t != lang {
			out = append(out, LangLink{Tag: t.String(), Name: c.byTag[t]["lang.name"]})
		}
	}
	slices.SortFunc(out, func(a, b LangLink) int { return strings.Compare(a.Tag, b.Tag) })
	return out
}

// LangLink is a language the switch offers.
type LangLink struct{ Tag, Name string }

// Override replaces messages of the catalogues: by language tag (en, de),
// then message id. It refuses a language without a catalogue and an id
// English does not have, naming them, so that a typo cannot leave a
// default text in place unnoticed.
func (c *Catalogs) Override(messages map[string]map[string]string) error {
	for lang, msgs := range messages {
		tag, err := language.Parse(lang)
		if err != nil || c.byTag[tag] == nil {
			return fmt.Errorf("messages: %q is not a language of the catalogues (%s)", lang, c.names())
		}
		for id, text := range msgs {
			if _, ok := c.byTag[language.English][id]; !ok {
				return fmt.Errorf("messages.%s: %q is not a message id (see the English catalogue)", lang, id)
			}
			if strings.TrimSpace(text) == "" {
				return fmt.Errorf("messages.%s.%s is empty", lang, id)
			}
			c.byTag[tag][id] = text
		}
	}
	return nil
}

func (c *Catalogs) names() string {
	var out []string
	for _, t := range c.tags {
		out = append(out, t.String())
	}
	return strings.Join(out, ", ")
}

// Tag returns the catalogue language matching s (a tag recorded earlier),
// English when none does.
func (c *Catalogs) Tag(s string) language.Tag {
	if t, err := language.Parse(s); err == nil {
		if _, i, conf := c.matcher.Match(t); conf >= language.High {
			return c.tags[i]
		}
	}
	return language.English
}
