package web

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	l := newLimits(DefaultLimits(), []string{"10.0.0.0/8"})
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"direct", "192.0.2.7:5000", "", "192.0.2.7"},
		{"a header from an untrusted peer is ignored", "192.0.2.7:5000", "198.51.100.1", "192.0.2.7"},
		{"through the ingress", "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"a spoofed hop left of the real one", "10.1.2.3:5000", "203.0.113.9, 198.51.100.1", "198.51.100.1"},
		{"through two trusted proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"only proxies", "10.1.2.3:5000", "10.9.9.9", "10.1.2.3"},
	} {
		r := httptest.NewRequest("POST", "/requests", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := l.clientAddr(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
