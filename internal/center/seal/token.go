package seal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A token is URL-safe base64 (no padding) of
//
//	version(1) | len(keyID)(1) | keyID | nonce(24) | sealed
//
// where sealed is XChaCha20-Poly1305 under the key's sealing key, with the
// clear header (version, key id) as additional data, of
//
//	issued(8, Unix seconds) | expires(8, Unix seconds) | len(purpose)(1) | purpose | payload
//
// so the key id is authenticated, and the times and the purpose are both
// authenticated and hidden.
const (
	version = 1
	// MaxTokenLen bounds a token, in characters, so that a link stays short
	// enough for every mail client; longer input is refused before decoding.
	MaxTokenLen = 2048
	// MaxPurposeLen bounds a purpose string.
	MaxPurposeLen = 64
	nonceSize     = 24
	timesSize     = 16
)

var encoding = base64.RawURLEncoding.Strict()

// Errors of Open. They say what is wrong with a token, never what it holds.
var (
	// ErrInvalid: the token is malformed, was changed, or was sealed by a key
	// that is not (or no longer) in the ring. These are not told apart on
	// purpose.
	ErrInvalid = errors.New("seal: token is not valid")
	// ErrWrongPurpose: the token is authentic but was sealed for another use.
	ErrWrongPurpose = errors.New("seal: token was sealed for another purpose")
	// ErrExpired: the token is authentic and for this purpose, but its time is up.
	ErrExpired = errors.New("seal: token has expired")
	// ErrTooLarge: a payload too large to seal, or a token longer than
	// MaxTokenLen (which Open also reports as ErrInvalid).
	ErrTooLarge = errors.New("seal: too large")
)

// Opened is what an authentic token holds.
type Opened struct {
	Payload   []byte
	KeyID     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Seal seals payload for purpose (such as "verify-submission"), valid for
// ttl from now (rounded up to the second), with the primary key.
func (r *Ring) Seal(payload []byte, purpose string, ttl time.Duration) (string, error) {
	if err := checkPurpose(purpose); err != nil {
		return "", err
	}
	if ttl < time.Second {
		return "", fmt.Errorf("seal: ttl %s is shorter than a second", ttl)
	}
	header := []byte{version, byte(len(r.primary))}
	header = append(header, r.primary...)
	size := len(header) + nonceSize + timesSize + 1 + len(purpose) + len(payload) + r.keys[r.primary].aead.Overhead()
	if encoding.EncodedLen(size) > MaxTokenLen {
		return "", fmt.Errorf("%w: a payload of %d bytes makes a token longer than %d characters", ErrTooLarge, len(payload), MaxTokenLen)
	}
	now := r.now()
	expires := now.Add(ttl)
	if expires.Truncate(time.Second).Before(expires) {
		expires = expires.Truncate(time.Second).Add(time.Second)
	}
	plain := make([]byte, 0, timesSize+1+len(purpose)+len(payload))
	plain = binary.BigEndian.AppendUint64(plain, uint64(now.Unix()))
	plain = binary.BigEndian.AppendUint64(plain, uint64(expires.Unix()))
	plain = append(plain, byte(len(purpose)))
	plain = append(plain, purpose...)
	plain = append(plain, payload...)

	out := make([]byte, len(header)+nonceSize, size)
	copy(out, header)
	nonce := out[len(header):]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	out = r.keys[r.primary].aead.Seal(out, nonce, plain, header)
	return encoding.EncodeToString(out), nil
}

// Open checks that token is authentic, was sealed for purpose and has not
// expired at now, and returns what it holds. Its errors are ErrInvalid,
// ErrWrongPurpose and ErrExpired, checked in that order (ErrTooLarge comes
// with ErrInvalid).
func (r *Ring) Open(token, purpose string, now time.Time) (Opened, error) {
	t, err := r.parse(token)
	if err != nil {
		return Opened{}, err
	}
	plain := t.plain
	if len(plain) < timesSize+1 || len(plain) < timesSize+1+int(plain[timesSize]) {
		return Opened{}, ErrInvalid // authentic yet malformed: never sealed by Seal
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(plain[0:8])), 0).UTC()
	expires := time.Unix(int64(binary.BigEndian.Uint64(plain[8:16])), 0).UTC()
	n := int(plain[timesSize])
	if string(plain[timesSize+1:timesSize+1+n]) != purpose {
		return Opened{}, ErrWrongPurpose
	}
	if !now.Before(expires) {
		return Opened{}, ErrExpired
	}
	return Opened{Payload: plain[timesSize+1+n:], KeyID: t.keyID, IssuedAt: issued, ExpiresAt: expires}, nil
}

// parsed is an authentic token, decoded.
type parsed struct {
	raw   []byte // the token's bytes, as sealed
	keyID string
	key   *derived
	plain []byte
}

// parse decodes token and checks that a key of the ring sealed it. It does
// not look at the purpose or the times.
func (r *Ring) parse(token string) (*parsed, error) {
	if len(token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: %w: longer than %d characters", ErrInvalid, ErrTooLarge, MaxTokenLen)
	}
	raw, err := encoding.DecodeString(token)
	if err != nil || len(raw) < 2 {
		return nil, ErrInvalid
	}
	if raw[0] != version {
		return nil, ErrInvalid
	}
	n := int(raw[1])
	headerLen := 2 + n
	if len(raw) < headerLen+nonceSize {
		return nil, ErrInvalid
	}
	keyID := string(raw[2:headerLen])
	key, ok := r.keys[keyID]
	if !ok {
		return nil, ErrInvalid
	}
	nonce := raw[headerLen : headerLen+nonceSize]
	plain, err := key.aead.Open(nil, nonce, raw[headerLen+nonceSize:], raw[:headerLen])
	if err != nil {
		return nil, ErrInvalid
	}
	return &parsed{raw: raw, keyID: keyID, key: key, plain: plain}, nil
}

func checkPurpose(purpose string) error {
	if purpose == "" || len(purpose) > MaxPurposeLen {
		return fmt.Errorf("seal: purpose must be 1 to %d bytes", MaxPurposeLen)
	}
	return nil
}
