// Package drp serves the Data Rights Protocol (DRP 1.0, Consumer Reports
// Innovation Lab) as a Privacy Infrastructure Provider: authorized agents
// registered as AuthorizedAgent objects pair with the company, send signed
// data rights requests, follow and revoke them. A request becomes a
// PrivacyRequest through the API, like one filed at the privacy center.
package drp

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Version is the protocol version served.
const Version = "1.0"

// Message is a signed DRP message's JSON (the request body, after the
// signature): the envelope every message carries, and the fields of a
// data rights request.
type Message struct {
	AgentID        string `json:"agent-id"`
	BusinessID     string `json:"business-id"`
	IssuedAt       string `json:"issued-at"`
	ExpiresAt      string `json:"expires-at"`
	Version        string `json:"drp.version"`
	AgentRequestID string `json:"agent-request-id,omitempty"`

	Exercise       string   `json:"exercise,omitempty"`
	Regime         string   `json:"regime,omitempty"`
	Relationships  []string `json:"relationships,omitempty"`
	StatusCallback string   `json:"status_callback,omitempty"`

	// Identity claims (schema.org Person, OpenID Connect names).
	Name                string          `json:"name,omitempty"`
	Email               string          `json:"email,omitempty"`
	EmailVerified       Verified        `json:"email_verified,omitempty"`
	PhoneNumber         string          `json:"phone_number,omitempty"`
	PhoneNumberVerified Verified        `json:"phone_number_verified,omitempty"`
	Address             json.RawMessage `json:"address,omitempty"`
	AddressVerified     Verified        `json:"address_verified,omitempty"`

	// Reason is a revocation's, the person's words.
	Reason string `json:"reason,omitempty"`

	// Digest is the SHA-256 (hex) of the signed body as received: a
	// request without an agent-request-id is named after it, so that the
	// same message replayed finds the request it filed.
	Digest string `json:"-"`
}

// Verified is a claim's *_verified flag: JSON true or false, and, as
// agents in the field send them, the strings "true", "false" and "" (an
// absent claim) and null. Anything else is refused.
type Verified bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *Verified) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "true", `"true"`:
		*v = true
	case "false", `"false"`, `""`, "null":
		*v = false
	default:
		return fmt.Errorf("a *_verified claim must be true or false, not %s", b)
	}
	return nil
}

// Error is the protocol's error answer: {code, message, fatal}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fatal: the request will not go on (retrying does not help).
	Fatal bool `json:"fatal,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(status int, fatal bool, format string, args ...any) *Error {
	return &Error{Status: status, Code: fmt.Sprint(status), Message: fmt.Sprintf(format, args...), Fatal: fatal}
}

// maxBody bounds a signed message: a data rights request is a few hundred
// bytes of claims (the center's pages take at most 16 KiB too).
const maxBody = 16 << 10

// Open checks a signed body (base64 of the 64-byte Ed25519 signature
// followed by the JSON, libsodium's combined mode) against key and returns
// the JSON exactly as signed. Steps 1 and 2 of the spec's section 3.07.
func Open(body []byte, key ed25519.PublicKey) ([]byte, *Error) {
	text := strings.TrimSpace(string(body))
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(text); err != nil {
			return nil, fail(http.StatusBadRequest, true, "the body is not base64 (a signed message is base64 of the signature followed by the JSON)")
		}
	}
	if len(raw) <= ed25519.SignatureSize {
		return nil, fail(http.StatusBadRequest, true, "the body is too short to hold a signature and a message")
	}
	sig, msg := raw[:ed25519.SignatureSize], raw[ed25519.SignatureSize:]
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, msg, sig) {
		return nil, fail(http.StatusForbidden, true, "the signature does not verify with the agent's key")
	}
	return msg, nil
}

// Window bounds a message's validity: IssuedAt may be up to Skew in the
// future (clocks differ), and ExpiresAt at most MaxAhead after now.
type Window struct {
	Skew, MaxAhead time.Duration
}

// DefaultWindow: a minute of skew; messages valid for at most 20 minutes
// (the spec recommends 10; the reference agent signs for 15).
var DefaultWindow = Window{Skew: time.Minute, MaxAhead: 20 * time.Minute}

// Check validates a message's envelope in the spec's order (section 3.07,
// steps 3 to 6): the agent it names is the one the token (or the pairing
// URL) is for, the business is this company, it was issued, and it has not
// expired; and it does not claim a validity too far ahead.
func (w Window) Check(m *Message, agentID, businessID string, now time.Time) *Error {
	if m.AgentID != agentID {
		return fail(http.StatusForbidden, true, "agent-id %q is not the agent of this token", m.AgentID)
	}
	if m.BusinessID != businessID {
		return fail(http.StatusForbidden, true, "business-id %q is not this business (%s)", m.BusinessID, businessID)
	}
	issued, err := parseTime(m.IssuedAt)
	if err != nil {
		return fail(http.StatusBadRequest, true, "issued-at: %v", err)
	}
	if now.Add(w.Skew).Before(issued) {
		return fail(http.StatusBadRequest, true, "issued-at %s is in the future", m.IssuedAt)
	}
	expires, err := parseTime(m.ExpiresAt)
	if err != nil {
		return fail(http.StatusBadRequest, true, "expires-at: %v", err)
	}
	if !now.Before(expires) {
		return fail(http.StatusBadRequest, true, "the message expired at %s", m.ExpiresAt)
	}
	if expires.Sub(now) > w.MaxAhead {
		return fail(http.StatusBadRequest, true, "expires-at %s is more than %s ahead: sign messages valid for a short time", m.ExpiresAt, w.MaxAhead)
	}
	return nil
}

// IssuedAtTime is the message's issued-at (once Check accepted it).
func (m *Message) IssuedAtTime() time.Time {
	t, _ := parseTime(m.IssuedAt)
	return t
}

// parseTime reads an ISO 8601 time with an offset.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time with an offset", s)
	}
	return t, nil
}

// Decode reads a message's JSON.
func Decode(msg []byte) (*Message, *Error) {
	m := &Message{}
	if err := json.Unmarshal(msg, m); err != nil {
		return nil, fail(http.StatusBadRequest, true, "the message is not a JSON object of the protocol: %v", err)
	}
	return m, nil
}
