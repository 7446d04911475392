// Package netguard keeps the operator from being turned against its own
// network (server-side request forgery): DataSource endpoints are chosen by
// whoever may create a DataSource, so the operator refuses to dial cloud
// metadata services, link-local addresses, the API server itself, and
// loopback unless explicitly allowed. The check runs in the dialer on the
// address actually dialled, after DNS resolution, so a name that resolves
// (or re-resolves) to a forbidden address is refused too.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotAllowed is wrapped by every refusal.
var ErrNotAllowed = errors.New("endpoint address not allowed")

// metadataHosts are host names of cloud metadata services.
var metadataHosts = map[string]bool{
	"metadata":                     true,
	"metadata.google.internal":     true,
	"metadata.goog":                true,
	"instance-data":                true,
	"instance-data.ec2.internal":   true,
	"metadata.azure.com":           true,
	"metadata.platformequinix.com": true,
}

// metadataAddrs are cloud metadata and platform services outside the
// link-local range: EC2's IPv6 metadata, Alibaba Cloud's metadata and Azure's
// WireServer.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
	netip.MustParseAddr("168.63.129.16"):   true,
}

// IPv6 ranges that carry an IPv4 address inside them: a forbidden IPv4
// address written in one of these forms is refused as the address itself.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380
	ipv4Compatible = netip.MustParsePrefix("::/96")          // deprecated, RFC 4291
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries by one of
// the translation or tunnelling conventions, if any.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case nat64WellKnown.Contains(addr), nat64Local.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case teredo.Contains(addr):
		// The client's address is stored inverted in the last 32 bits.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	case ipv4Compatible.Contains(addr) && !addr.IsUnspecified() && !addr.IsLoopback():
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	return netip.Addr{}, false
}

// Guard decides which addresses may be dialled.
type Guard struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1 (local development and tests).
	AllowLoopback bool
	// Denied are further addresses (with port) to refuse: the API server's own.
	Denied []netip.AddrPort
}

// CheckURL refuses a URL whose host names a metadata service or is a
// literal forbidden address; names are checked again when dialled.
func (g *Guard) CheckURL(u *url.URL) error {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if metadataHosts[host] {
		return fmt.Errorf("%w: %s is a cloud metadata service", ErrNotAllowed, host)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := g.CheckAddr(addr); err != nil {
			return err
		}
		if port, err := portOf(u); err == nil {
			return g.checkDenied(netip.AddrPortFrom(addr, port))
		}
	}
	return nil
}

func portOf(u *url.URL) (uint16, error) {
	p := u.Port()
	if p == "" {
		if u.Scheme == "http" {
			return 80, nil
		}
		return 443, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	return uint16(n), err
}

func (g *Guard) checkDenied(ap netip.AddrPort) error {
	for _, d := range g.Denied {
		if ap.Addr().Unmap() == d.Addr().Unmap() && ap.Port() == d.Port() {
			return fmt.Errorf("%w: %s is the Kubernetes API server", ErrNotAllowed, ap)
		}
	}
	return nil
}

// CheckAddr refuses forbidden addresses, also when written as an IPv4
// address embedded in IPv6 (NAT64, 6to4, Teredo, IPv4-compatible).
func (g *Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	if v4, ok := embeddedIPv4(addr); ok {
		if err := g.CheckAddr(v4); err != nil {
			return fmt.Errorf("%w (embedded in %s)", err, addr)
		}
	}
	switch {
	case addr.IsLoopback() && !g.AllowLoopback:
		return fmt.Errorf("%w: %s is a loopback address", ErrNotAllowed, addr)
	case addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local (cloud metadata lives there)", ErrNotAllowed, addr)
	case metadataAddrs[addr]:
		return fmt.Errorf("%w: %s is the cloud metadata service", ErrNotAllowed, addr)
	case addr.IsUnspecified() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is not a unicast address", ErrNotAllowed, addr)
	}
	return nil
}

// Control is a net.Dialer Control function that applies the guard to the
// address about to be connected.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrNotAllowed, address)
	}
	if err := g.CheckAddr(ap.Addr()); err != nil {
		return err
	}
	return g.checkDenied(ap)
}

// Dialer returns a dialer that applies the guard.
func (g *Guard) Dialer(base *net.Dialer) *net.Dialer {
	d := *base
	d.Control = g.Control
	return &d
}

// APIServerAddrs resolves the API server's URL (rest.Config.Host) to the
// addresses and port the guard should deny.
func APIServerAddrs(host string) []netip.AddrPort {
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	port, err := portOf(u)
	if err != nil {
		return nil
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(addr, port)}
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, netip.AddrPortFrom(a.Unmap(), port))
		}
	}
	return out
}
