package delivery_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
)

func printer(id string, args ...string) string { return id + strings.Join(args, "") }

// TestRenderDeepAndOdd: nesting deeper than the page shows becomes its
// JSON text, escaped; a document that is not an export is an error.
func TestRenderDeepAndOdd(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + `"<b>"` + strings.Repeat(`}`, 40)
	doc := `{"manifest":{"sources":[]},"data":{"ns/src":` + deep + `},"extra":[1,2]}`
	var out bytes.Buffer
	if err := delivery.Render(&out, strings.NewReader(doc), printer); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	if !strings.Contains(page, "<code>") || strings.Contains(page, "<b>") || !strings.Contains(page, "&lt;b&gt;") {
		t.Fatalf("deep value:\n%s", page)
	}
	if err := delivery.Render(&bytes.Buffer{}, strings.NewReader(`[1,2]`), printer); err == nil {
		t.Fatal("an array rendered as an export")
	}
}
