package delivery

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of a source's data the page shows: deeper
// values are shown as their JSON text.
const maxDepth = 32

// manifest is the export's head as docs/exports.md describes it.
type manifest struct {
	Sources []struct {
		Namespace  string `json:"namespace"`
		Name       string `json:"name"`
		Status     string `json:"status"`
		Records    int64  `json:"records"`
		Categories []struct {
			Category   string   `json:"category"`
			Purposes   []string `json:"purposes"`
			Recipients []string `json:"recipients"`
			Origin     string   `json:"origin"`
			Retention  []struct {
				RetainFor string `json:"retainFor"`
			} `json:"retention"`
		} `json:"categories"`
	} `json:"sources"`
}

// Printer gives a message in the person's language.
type Printer func(id string, args ...string) string

// Render writes the export document r holds as HTML to w: where the data
// comes from and what is done with it (each source's categories, purposes,
// recipients, origin and retention), then each source's data as nested
// lists. It streams the document: a large export is never held whole. An
// error of r (ErrChecksum included) ends it.
func Render(w io.Writer, r io.Reader, t Printer) error {
	bw := bufio.NewWriter(w)
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expect(dec, json.Delim('{')); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		switch key {
		case "manifest":
			var m manifest
			if err := dec.Decode(&m); err != nil {
				return err
			}
			writeManifest(bw, m, t)
		case "data":
			if err := writeData(bw, dec, t); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	if err := expect(dec, json.Delim('}')); err != nil {
		return err
	}
	// Read to the end, so that the checksum is checked before the page is.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return bw.Flush()
}

func expect(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		// The token may be a data value: never in the error.
		return fmt.Errorf("the export is not an export document: something else where %v was expected", want)
	}
	return nil
}

func esc(s string) string { return html.EscapeString(s) }

func writeManifest(w *bufio.Writer, m manifest, t Printer) {
	fmt.Fprintf(w, "<section aria-labelledby=\"where\"><h2 id=\"where\">%s</h2>\n", esc(t("export.where")))
	for _, src := range m.Sources {
		fmt.Fprintf(w, "<h3>%s</h3>\n<p>%s</p>\n", esc(src.Namespace+"/"+src.Name),
			esc(t("export.records", "records", strconv.FormatInt(src.Records, 10))))
		if len(src.Categories) == 0 {
			continue
		}
		fmt.Fprintf(w, "<table><caption>%s</caption>\n<thead><tr>", esc(t("export.uses", "source", src.Namespace+"/"+src.Name)))
		for _, col := range []string{"export.category", "export.purposes", "export.recipients", "export.origin", "export.retention"} {
			fmt.Fprintf(w, "<th scope=\"col\">%s</th>", esc(t(col)))
		}
		w.WriteString("</tr></thead>\n<tbody>\n")
		for _, c := range src.Categories {
			var kept []string
			for _, r := range c.Retention {
				kept = append(kept, r.RetainFor)
			}
			retention := t("export.retention.none")
			if len(kept) > 0 {
				retention = strings.Join(kept, ", ")
			}
			fmt.Fprintf(w, "<tr><th scope=\"row\">%s</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				esc(c.Category), esc(strings.Join(c.Purposes, "; ")), esc(strings.Join(c.Recipients, "; ")), esc(c.Origin), esc(retention))
		}
		w.WriteString("</tbody></table>\n")
	}
	w.WriteString("</section>\n")
}

func writeData(w *bufio.Writer, dec *json.Decoder, t Printer) error {
	if err := expect(dec, json.Delim('{')); err != nil {
		return err
	}
	fmt.Fprintf(w, "<section aria-labelledby=\"data\"><h2 id=\"data\">%s</h2>\n", esc(t("export.data")))
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := key.(string)
		fmt.Fprintf(w, "<h3>%s</h3>\n<div class=\"data\">", esc(name))
		if err := writeValue(w, dec, 0); err != nil {
			return err
		}
		w.WriteString("</div>\n")
	}
	w.WriteString("</section>\n")
	return expect(dec, json.Delim('}'))
}

// writeValue writes the next value of dec: an object as a description
// list, an array as a numbered list, a scalar as text.
func writeValue(w *bufio.Writer, dec *json.Decoder, depth int) error {
	if depth >= maxDepth {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		fmt.Fprintf(w, "<code>%s</code>", esc(string(raw)))
		return nil
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		open, end, item := "<dl>", "</dl>", ""
		if v == '[' {
			open, end, item = "<ol>", "</ol>", "li"
		} else if v != '{' {
			return errors.New("the export is not valid JSON")
		}
		w.WriteString(open)
		for dec.More() {
			if item == "" {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "<dt>%s</dt><dd>", esc(fmt.Sprint(k)))
			} else {
				w.WriteString("<li>")
			}
			if err := writeValue(w, dec, depth+1); err != nil {
				return err
			}
			if item == "" {
				w.WriteString("</dd>")
			} else {
				w.WriteString("</li>")
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		w.WriteString(end)
	case nil:
		w.WriteString("&mdash;")
	default:
		w.WriteString(esc(fmt.Sprint(v)))
	}
	return nil
}
