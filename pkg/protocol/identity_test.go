package protocol

import "testing"

func TestNormalizeIdentity(t *testing.T) {
	for _, tc := range []struct {
		typ, in, want string
	}{
		{"email", "Ada@Example.COM", "ada@example.com"},
		{"email", "  ada@example.com\t\n", "ada@example.com"},
		{"email", "\u00a0ada@example.com\u3000", "ada@example.com"}, // no-break and ideographic spaces
		{"email", "ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", "ada@example.com"},             // full-width forms (NFKC)
		{"email", "ﬁona@example.com", "fiona@example.com"},          // a ligature (NFKC)
		{"email", "ada+news@example.com", "ada+news@example.com"},   // sub-address kept
		{"email", "Zoe\u0301@example.com", "zoé@example.com"},       // combining accent composed
		{"phone", " +44 (20) 7946-0958 ", "+442079460958"},
		{"phone", "+44.20.7946.0958", "+442079460958"},
		{"userId", " CUST-0042 ", "CUST-0042"}, // ids keep their case
		{"userId", "ＣＵＳＴ-0042", "CUST-0042"},
	} {
		got := NormalizeIdentity(tc.typ, tc.in)
		if got != tc.want {
			t.Errorf("NormalizeIdentity(%q, %q) = %q, want %q", tc.typ, tc.in, got, tc.want)
		}
		if again := NormalizeIdentity(tc.typ, got); again != got {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
	}
}
