package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
)

const (
	// IDLen is the length of an ID: 16 characters of lower-case base32
	// (80 bits of HMAC-SHA256).
	IDLen = 16
	// CodeLen is the number of digits of a verification code.
	CodeLen = 6
	// codeModulus is 10^CodeLen.
	codeModulus = 1_000_000
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ID derives a name for what token leads to: the same token always gives the
// same ID, on every replica holding its key, so that a second click on a
// link finds the PrivacyRequest that the first one created. It is
// HMAC-SHA256 of the token under a key of its own, so it reveals nothing of
// the token, and is made of lower-case letters and digits, fit for the end
// of a Kubernetes object name. The token must be authentic (else
// ErrInvalid); its purpose and expiry are not checked: Open first.
func (r *Ring) ID(token string) (string, error) {
	t, err := r.parse(token)
	if err != nil {
		return "", err
	}
	sum := mac(t.key.id, t.raw)
	return idEncoding.EncodeToString(sum[:IDLen*5/8]), nil
}

// Code derives the short code sent beside the link, for a person to type
// instead of clicking: CodeLen decimal digits of HMAC-SHA256 of the token
// under a key of its own. A code has only 10^6 values: the server must lock
// a token after a few wrong codes. The token must be authentic (else
// ErrInvalid); its purpose and expiry are not checked: Open first.
func (r *Ring) Code(token string) (string, error) {
	t, err := r.parse(token)
	if err != nil {
		return "", err
	}
	return code(t), nil
}

// CheckCode tells whether code is the code of token, comparing in constant
// time. Spaces and dashes a person may type between the digits are
// ignored. It is false for a token that is not authentic.
func (r *Ring) CheckCode(token, typed string) bool {
	t, err := r.parse(token)
	if err != nil {
		return false
	}
	typed = strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(typed)
	return subtle.ConstantTimeCompare([]byte(code(t)), []byte(typed)) == 1
}

func code(t *parsed) string {
	sum := mac(t.key.code, t.raw)
	// The bias of 2^64 mod 10^6 is below 10^-13: negligible.
	return fmt.Sprintf("%0*d", CodeLen, binary.BigEndian.Uint64(sum[:8])%codeModulus)
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}
