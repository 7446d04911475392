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

// awsIPv6Metadata is the IPv6 address of the EC2 instance metadata service.
var awsIPv6Metadata = netip.MustParseAddr("fd00:ec2::254")

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

// CheckAddr refuses forbidden addresses.
func (g *Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback() && !g.AllowLoopback:
		return fmt.Errorf("%w: %s is a loopback address", ErrNotAllowed, addr)
	case addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local (cloud metadata lives there)", ErrNotAllowed, addr)
	case addr == awsIPv6Metadata:
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
