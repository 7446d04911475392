package protocol

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeIdentity is the one spelling of an identity that the operator
// sends to sources, fingerprints and matches against LegalHolds, so that a
// hold on a person protects every spelling of their identities and a
// Delete reaches the same person a hold names. It is applied once, when a
// request's identities are fixed; a source receives exactly these values.
//
// Every type: Unicode NFKC (compatibility forms fold: a full-width "ａ" is
// "a", a ligature "ﬁ" is "fi"), then surrounding white space removed.
// email: also lower-cased (providers treat addresses case-insensitively in
// practice; sub-addresses such as "+news" are kept: whether they reach the
// same mailbox is the provider's rule, not ours). phone: spaces, dashes,
// dots and parentheses removed, a leading "+" kept. Other types (userId,
// customerId...) keep their case: an id is matched as it is written.
//
// It is idempotent: NormalizeIdentity(t, NormalizeIdentity(t, v)) is
// NormalizeIdentity(t, v).
func NormalizeIdentity(identityType, value string) string {
	value = strings.TrimFunc(norm.NFKC.String(value), unicode.IsSpace)
	switch identityType {
	case "email":
		value = strings.ToLower(value)
	case "phone":
		value = strings.Map(func(r rune) rune {
			switch {
			case unicode.IsSpace(r), r == '-', r == '.', r == '(', r == ')':
				return -1
			}
			return r
		}, value)
	}
	return value
}
