package mailin

import (
	"strings"
	"testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func TestGuess(t *testing.T) {
	for text, want := range map[string]struct {
		typ  privacyv1alpha1.RequestType
		reg  privacyv1alpha1.Regulation
		lang string
	}{
		"Please delete all my data (GDPR art. 17)":                {privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.RegulationGDPR, "en"},
		"I'd like a copy of my personal information, California":  {privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RegulationCCPA, "en"},
		"Bitte löschen Sie meine Daten nach DSGVO":                {privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.RegulationGDPR, "de"},
		"Do not sell my information":                              {privacyv1alpha1.RequestTypeOptOut, "", "en"},
		"Delete my account, and send me a copy of my data first":  {"", "", "en"},
		"Hello, I have a question about your products":            {"", "", "en"},
		"Under the GDPR and the CCPA I ask for access to my data": {privacyv1alpha1.RequestTypeAccess, "", "en"},
	} {
		typ, reg, lang := Guess(text)
		if typ != want.typ || reg != want.reg || lang != want.lang {
			t.Errorf("%q: %q %q %q, want %+v", text, typ, reg, lang, want)
		}
	}
}

func TestBodyText(t *testing.T) {
	multi := "--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nUGxlYXNlIGRlbGV0ZSBt\r\neSBkYXRh\r\n--b--\r\n"
	if got := bodyText("multipart/alternative; boundary=b", "", strings.NewReader(multi), 0); got != "Please delete my data" {
		t.Errorf("multipart: %q", got)
	}
	if got := bodyText("text/plain", "quoted-printable", strings.NewReader("l=C3=B6schen=\r\n bitte"), 0); got != "löschen bitte" {
		t.Errorf("quoted-printable: %q", got)
	}
	if got := bodyText("text/html", "", strings.NewReader("<p>x</p>"), 0); got != "" {
		t.Errorf("html alone: %q, want nothing read", got)
	}
}

// TestBodyTextDepth: parts nested deeper than maxDepth are not followed
// (each level costs a buffer; a crafted message nests thousands).
func TestBodyTextDepth(t *testing.T) {
	var b strings.Builder
	for i := range maxDepth + 2 {
		b.WriteString("--b" + string(rune('a'+i)) + "\r\nContent-Type: multipart/mixed; boundary=b" + string(rune('a'+i+1)) + "\r\n\r\n")
	}
	b.WriteString("--b" + string(rune('a'+maxDepth+2)) + "\r\nContent-Type: text/plain\r\n\r\ndelete me\r\n")
	if got := bodyText("multipart/mixed; boundary=ba", "", strings.NewReader(b.String()), 0); got != "" {
		t.Fatalf("a part nested %d deep was read: %q", maxDepth+2, got)
	}
}
