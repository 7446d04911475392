package mailin

import (
	"strings"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// words that name a right, in English and German, lower-case.
var rightWords = map[privacyv1alpha1.RequestType][]string{
	privacyv1alpha1.RequestTypeDelete:  {"delete", "erase", "erasure", "remove my", "forget me", "right to be forgotten", "löschen", "löschung"},
	privacyv1alpha1.RequestTypeAccess:  {"access", "copy of my", "what data", "what information", "what personal", "subject access", "dsar", "auskunft"},
	privacyv1alpha1.RequestTypeCorrect: {"correct", "rectif", "wrong address", "update my", "berichtig"},
	privacyv1alpha1.RequestTypeOptOut:  {"opt out", "opt-out", "unsubscribe", "do not sell", "don't sell", "stop selling", "widerspruch", "keine werbung"},
}

// words that name a law.
var lawWords = map[privacyv1alpha1.Regulation][]string{
	privacyv1alpha1.RegulationCCPA: {"ccpa", "cpra", "california"},
	privacyv1alpha1.RegulationGDPR: {"gdpr", "dsgvo", "general data protection"},
}

// Guess reads which right a person's text asks for and under which law:
// a right or a law only when exactly one is named (else the person
// chooses on the form), and German when German words gave the right.
func Guess(text string) (privacyv1alpha1.RequestType, privacyv1alpha1.Regulation, string) {
	text = strings.ToLower(text)
	var typ privacyv1alpha1.RequestType
	lang := "en"
	for t, words := range rightWords {
		for _, w := range words {
			if !strings.Contains(text, w) {
				continue
			}
			if typ != "" && typ != t {
				typ = privacyv1alpha1.RequestType("ambiguous")
			} else {
				typ = t
			}
			if strings.ContainsAny(w, "äöü") || w == "auskunft" || w == "berichtig" || w == "widerspruch" || w == "keine werbung" {
				lang = "de"
			}
		}
	}
	if typ == "ambiguous" {
		typ = ""
	}
	var reg privacyv1alpha1.Regulation
	for r, words := range lawWords {
		for _, w := range words {
			if strings.Contains(text, w) {
				if reg != "" && reg != r {
					return typ, "", lang
				}
				reg = r
			}
		}
	}
	return typ, reg, lang
}
