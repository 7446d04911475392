package drp

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The reference agent's published development key (OSIRAA settings.py)
// and a pairing message it signs (Python json.dumps, as the agent does):
// the vector pins the wire format, signature first, standard base64.
const (
	osiraaVerifyKey = "jkX15E7+NA/0E7K5YAp7+GndMP6/Fa0dJJYyr1GJPoQ="
	osiraaSeed      = "098LMB1ayJW1N45oQ4J22ddU96gXr3/x5hEmKnPFpP0="
	pairingJSON     = `{"agent-id": "CR_AA_DRP_ID_001_LOCAL", "business-id": "osirpip-cb-local-01", "issued-at": "2023-06-20T16:00:00.000+00:00", "expires-at": "2023-06-20T16:15:00.000+00:00", "drp.version": "1.0"}`
	pairingBody     = "4Ol1kj8jexA2JAGztgRCIgw2oAABV8T+HxvfgkW7eY+kuG6GUyxOG15sIT1qf6yhYjlrNUaIaJevanhaR37vBnsiYWdlbnQtaWQiOiAiQ1JfQUFfRFJQX0lEXzAwMV9MT0NBTCIsICJidXNpbmVzcy1pZCI6ICJvc2lycGlwLWNiLWxvY2FsLTAxIiwgImlzc3VlZC1hdCI6ICIyMDIzLTA2LTIwVDE2OjAwOjAwLjAwMCswMDowMCIsICJleHBpcmVzLWF0IjogIjIwMjMtMDYtMjBUMTY6MTU6MDAuMDAwKzAwOjAwIiwgImRycC52ZXJzaW9uIjogIjEuMCJ9"
)

func key(t *testing.T, b64 string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestOpenReferenceVector: the reference agent's signed message opens
// with its key to the JSON exactly as signed, and signing that JSON with
// its seed gives the same body byte for byte (Ed25519 is deterministic).
func TestOpenReferenceVector(t *testing.T) {
	msg, err := Open([]byte(pairingBody+"\n"), key(t, osiraaVerifyKey))
	if err != nil || string(msg) != pairingJSON {
		t.Fatalf("Open: %q, %v", msg, err)
	}
	priv := ed25519.NewKeyFromSeed(key(t, osiraaSeed))
	signed := append(ed25519.Sign(priv, []byte(pairingJSON)), pairingJSON...)
	if got := base64.StdEncoding.EncodeToString(signed); got != pairingBody {
		t.Fatalf("signing the JSON gives\n%s\nwant\n%s", got, pairingBody)
	}
	m, derr := Decode(msg)
	if derr != nil || m.AgentID != "CR_AA_DRP_ID_001_LOCAL" || m.BusinessID != "osirpip-cb-local-01" || m.Version != Version {
		t.Fatalf("Decode: %+v %v", m, derr)
	}
	at := time.Date(2023, 6, 20, 16, 5, 0, 0, time.UTC)
	if err := DefaultWindow.Check(m, "CR_AA_DRP_ID_001_LOCAL", "osirpip-cb-local-01", at); err != nil {
		t.Fatalf("Check within the window: %v", err)
	}
}

// TestOpenAndCheckRefuse: each step of section 3.07 refuses what it must,
// in order, with a fatal error.
func TestOpenAndCheckRefuse(t *testing.T) {
	pub := key(t, osiraaVerifyKey)
	other, _, _ := ed25519.GenerateKey(nil)
	tampered := []byte(pairingBody)
	tampered[len(tampered)-8] ^= 1
	for name, c := range map[string]struct {
		body   string
		key    []byte
		status int
	}{
		"not base64":    {"%%%not base64%%%", pub, http.StatusBadRequest},
		"too short":     {base64.StdEncoding.EncodeToString(make([]byte, 64)), pub, http.StatusBadRequest},
		"another key":   {pairingBody, other, http.StatusForbidden},
		"tampered JSON": {string(tampered), pub, http.StatusForbidden},
	} {
		if _, err := Open([]byte(c.body), c.key); err == nil || err.Status != c.status || !err.Fatal || err.Code != strconv.Itoa(c.status) {
			t.Errorf("%s: %+v, want %d", name, err, c.status)
		}
	}

	m, _ := Decode([]byte(pairingJSON))
	at := time.Date(2023, 6, 20, 16, 5, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		agent, business string
		now             time.Time
		window          Window
		status          int
	}{
		"another agent":      {"OTHER", "osirpip-cb-local-01", at, DefaultWindow, http.StatusForbidden},
		"another business":   {"CR_AA_DRP_ID_001_LOCAL", "other-cb", at, DefaultWindow, http.StatusForbidden},
		"issued in a minute": {"CR_AA_DRP_ID_001_LOCAL", "osirpip-cb-local-01", time.Date(2023, 6, 20, 15, 58, 0, 0, time.UTC), DefaultWindow, http.StatusBadRequest},
		"expired":            {"CR_AA_DRP_ID_001_LOCAL", "osirpip-cb-local-01", time.Date(2023, 6, 20, 16, 15, 0, 0, time.UTC), DefaultWindow, http.StatusBadRequest},
		"valid too long":     {"CR_AA_DRP_ID_001_LOCAL", "osirpip-cb-local-01", at, Window{Skew: time.Minute, MaxAhead: 5 * time.Minute}, http.StatusBadRequest},
	} {
		if err := c.window.Check(m, c.agent, c.business, c.now); err == nil || err.Status != c.status || !err.Fatal {
			t.Errorf("%s: %+v, want %d", name, err, c.status)
		}
	}
	skewed := time.Date(2023, 6, 20, 15, 59, 30, 0, time.UTC)
	if err := DefaultWindow.Check(m, "CR_AA_DRP_ID_001_LOCAL", "osirpip-cb-local-01", skewed); err != nil {
		t.Errorf("issued 30s ahead of our clock (within the skew): %v", err)
	}
}
