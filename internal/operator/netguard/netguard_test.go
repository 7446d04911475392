package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	g := &Guard{Denied: APIServerAddrs("https://10.96.0.1:443")}
	if err := g.Control("tcp", "10.96.0.1:443", nil); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("dial of the API server: %v, want refusal", err)
	}
	if err := g.Control("tcp", "10.96.0.1:8443", nil); err != nil {
		t.Errorf("another port on the API server's address: %v", err)
	}
	for _, bad := range []string{"169.254.169.254", "127.0.0.1", "::1", "fd00:ec2::254", "fe80::1", "0.0.0.0", "::ffff:169.254.169.254", "::ffff:127.0.0.1",
		// Cloud metadata outside link-local: Alibaba, Azure WireServer.
		"100.100.100.200", "168.63.129.16",
		// IPv4 embedded in IPv6: NAT64 (well-known and local-use), 6to4,
		// Teredo (inverted client address), IPv4-compatible.
		"64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1", "2002:7f00:1::",
		"2001:0:4136:e378:8000:63bf:5601:5601", "::a9fe:a9fe", "64:ff9b::6464:64c8", "2002:a83f:8110::"} {
		if err := g.CheckAddr(netip.MustParseAddr(bad)); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("CheckAddr(%s) = %v, want refusal", bad, err)
		}
	}
	for _, good := range []string{"10.0.0.5", "192.168.1.10", "8.8.8.8", "2001:db8::1", "64:ff9b::808:808", "2002:808:808::1"} {
		if err := g.CheckAddr(netip.MustParseAddr(good)); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want allowed", good, err)
		}
	}
	allow := &Guard{AllowLoopback: true}
	if err := allow.CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("loopback with AllowLoopback: %v", err)
	}
	if err := allow.CheckAddr(netip.MustParseAddr("169.254.169.254")); err == nil {
		t.Error("AllowLoopback must not allow link-local")
	}
}

func TestCheckURL(t *testing.T) {
	g := &Guard{}
	g.Denied = APIServerAddrs("https://10.96.0.1")
	for _, bad := range []string{"http://metadata.google.internal/computeMetadata/v1/", "http://169.254.169.254/latest", "http://[fd00:ec2::254]/", "http://METADATA/", "https://10.96.0.1/"} {
		u, _ := url.Parse(bad)
		if err := g.CheckURL(u); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("CheckURL(%s) = %v, want refusal", bad, err)
		}
	}
	u, _ := url.Parse("https://billing.shop.svc:8443/privacy")
	if err := g.CheckURL(u); err != nil {
		t.Errorf("CheckURL(service url) = %v", err)
	}
}

// The guard sits in the dialer: a name that resolves to loopback is refused
// although the URL text names no forbidden address.
func TestDialerRefusesResolvedLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	client := func(g *Guard) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: g.Dialer(&net.Dialer{Timeout: 2 * time.Second}).DialContext}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost:"+port+"/", nil)
	if _, err := client(&Guard{}).Do(req); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("dial of localhost with loopback refused: err = %v, want ErrNotAllowed", err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost:"+port+"/", nil)
	resp, err := client(&Guard{AllowLoopback: true}).Do(req)
	if err != nil {
		t.Fatalf("dial of localhost with loopback allowed: %v", err)
	}
	resp.Body.Close()

	// The metadata address is refused before any packet is sent.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.169.254/latest/meta-data/", nil)
	if _, err := client(&Guard{AllowLoopback: true}).Do(req); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("dial of 169.254.169.254: err = %v, want ErrNotAllowed", err)
	}
}
