package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func specHeaders() http.Header {
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, strconv.Itoa(specTimestamp))
	h.Set(HeaderSignature, specSignature)
	return h
}

func TestVerifySpecVector(t *testing.T) {
	key, err := ParseKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(specTimestamp, 0).Add(time.Minute)
	id, err := Verify(specHeaders(), []byte(specBody), now, key)
	if err != nil || id != specID {
		t.Fatalf("Verify(spec example) = %q, %v", id, err)
	}
}

func TestSignMatchesHandWrittenHMAC(t *testing.T) {
	key, _ := ParseKey(specSecret)
	h := http.Header{}
	now := time.Unix(specTimestamp, 0)
	body := []byte(`{"kind":"Job"}`)
	if _, err := Sign(h, body, now, key); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, SecretPrefix))
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(h.Get(HeaderID) + "." + h.Get(HeaderTimestamp) + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := h.Get(HeaderSignature); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := ParseKey(specSecret)
	other, _ := ParseKey(NewSecret())
	now := time.Unix(specTimestamp, 0)
	tests := []struct {
		name   string
		mutate func(http.Header) []byte
		now    time.Time
		keys   []Key
		want   error
	}{
		{"tampered body", func(http.Header) []byte { return []byte(`{"test": 1}`) }, now, []Key{key}, ErrNoMatch},
		{"wrong key", nil, now, []Key{other}, ErrNoMatch},
		{"missing signature", func(h http.Header) []byte { h.Del(HeaderSignature); return nil }, now, []Key{key}, ErrMissingHeaders},
		{"bad timestamp", func(h http.Header) []byte { h.Set(HeaderTimestamp, "yesterday"); return nil }, now, []Key{key}, ErrBadTimestamp},
		{"too old", nil, now.Add(Tolerance + time.Second), []Key{key}, ErrStale},
		{"too new", nil, now.Add(-Tolerance - time.Second), []Key{key}, ErrStale},
		{"v2 only", func(h http.Header) []byte {
			h.Set(HeaderSignature, strings.Replace(specSignature, "v1,", "v2,", 1))
			return nil
		}, now, []Key{key}, ErrNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := specHeaders()
			body := []byte(specBody)
			if tt.mutate != nil {
				if b := tt.mutate(h); b != nil {
					body = b
				}
			}
			if _, err := Verify(h, body, tt.now, tt.keys...); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, _ := ParseKey(NewSecret())
	newKey, _ := ParseKey(NewSecret())
	now := time.Now()
	body := []byte("{}")

	// A sender in the middle of a rotation signs with both keys; a receiver
	// that knows either one accepts.
	h := http.Header{}
	if _, err := Sign(h, body, now, oldKey, newKey); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(h.Get(HeaderSignature))); n != 2 {
		t.Fatalf("want 2 signatures, got %d", n)
	}
	for _, k := range []Key{oldKey, newKey} {
		if _, err := Verify(h, body, now, k); err != nil {
			t.Errorf("Verify with one of the rotated keys: %v", err)
		}
	}
	// A receiver that holds both keys accepts a message signed with one.
	h = http.Header{}
	_, _ = Sign(h, body, now, newKey)
	if _, err := Verify(h, body, now, oldKey, newKey); err != nil {
		t.Errorf("Verify with both keys: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", "whsec_c2hvcnQ="} {
		_, err := ParseKey(bad)
		if err == nil {
			t.Errorf("ParseKey(%q) accepted a bad secret", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), strings.TrimPrefix(bad, SecretPrefix)) {
			t.Errorf("ParseKey error %q leaks the secret", err)
		}
	}
	if _, err := ParseKey(NewSecret()); err != nil {
		t.Errorf("ParseKey(NewSecret()) = %v", err)
	}
}

func TestReplayGuard(t *testing.T) {
	g := NewReplayGuard()
	now := time.Unix(1_800_000_000, 0)
	if err := g.Check("msg_1", now); err != nil {
		t.Fatal(err)
	}
	if err := g.Check("msg_1", now.Add(time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Errorf("second delivery: %v, want ErrReplayed", err)
	}
	if err := g.Check("msg_2", now.Add(time.Minute)); err != nil {
		t.Errorf("another message: %v", err)
	}
	// Past the window the id is forgotten; Verify's tolerance refuses such
	// an old message before it reaches the guard.
	g.Check("msg_3", now.Add(20*time.Minute))
	if len(g.seen) != 1 {
		t.Errorf("guard keeps %d ids after the window, want 1", len(g.seen))
	}
}

// A signature is bound to the method and protocol path of its request, and
// an answer's to the request it answers: a captured GET cannot be replayed
// as a DELETE or for another job, and an answer cannot be reused for
// another request.
func TestSignatureBinding(t *testing.T) {
	key, _ := ParseKey(NewSecret())
	now := time.Now()
	req, _ := http.NewRequest(http.MethodGet, "https://billing.example.com/privacy/jobs/pr-1", nil)
	reqID, err := SignRequest(req, "/jobs/pr-1", nil, now, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(req.Header, RequestPayload("GET", "/jobs/pr-1", nil), now, key); err != nil {
		t.Fatalf("the request as signed: %v", err)
	}
	for _, forged := range [][2]string{{"DELETE", "/jobs/pr-1"}, {"GET", "/jobs/pr-2"}, {"GET", "/admin/flush"}} {
		if _, err := Verify(req.Header, RequestPayload(forged[0], forged[1], nil), now, key); !errors.Is(err, ErrNoMatch) {
			t.Errorf("GET /jobs/pr-1's signature verified as %s %s: %v", forged[0], forged[1], err)
		}
	}

	answer := []byte(`{"id":"pr-1","status":"Running"}`)
	h := http.Header{}
	if _, err := Sign(h, AnswerPayload("GET", "/jobs/pr-1", reqID, answer), now, key); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(h, AnswerPayload("GET", "/jobs/pr-1", reqID, answer), now, key); err != nil {
		t.Errorf("the answer to its request: %v", err)
	}
	if _, err := Verify(h, AnswerPayload("GET", "/jobs/pr-1", NewMessageID(), answer), now, key); !errors.Is(err, ErrNoMatch) {
		t.Errorf("an answer replayed for another request verified: %v", err)
	}
	if _, err := Verify(h, answer, now, key); !errors.Is(err, ErrNoMatch) {
		t.Errorf("an answer verified over its bare body: %v", err)
	}
}

// The canonical payload as docs/protocol.md states it, computed by hand.
func TestPayloadsAsDocumented(t *testing.T) {
	if got := string(RequestPayload("POST", "/jobs", []byte(`{"id":"pr-1"}`))); got != "POST /jobs\n{\"id\":\"pr-1\"}" {
		t.Errorf("RequestPayload = %q", got)
	}
	if got := string(AnswerPayload("GET", "/jobs/pr-1", "msg_1", nil)); got != "GET /jobs/pr-1 msg_1\n" {
		t.Errorf("AnswerPayload = %q", got)
	}
}

func TestCheckHeadersBeforeBody(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	if err := CheckHeaders(specHeaders(), now); err != nil {
		t.Errorf("valid headers: %v", err)
	}
	h := specHeaders()
	h.Del(HeaderID)
	if err := CheckHeaders(h, now); !errors.Is(err, ErrMissingHeaders) {
		t.Errorf("missing id: %v", err)
	}
	if err := CheckHeaders(specHeaders(), now.Add(time.Hour)); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
}
