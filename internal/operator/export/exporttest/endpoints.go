package exporttest

import (
	"io"
	"net"
	"sync"
)

// BlackHole is a loopback address that takes every connection and never
// answers on it, as a black-holed bucket does, until forward is called:
// from then on it drops the connections it held and relays new ones to
// target (the bucket coming back). It closes when the test ends.
func BlackHole(t TB) (addr string, forward func(target string)) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var held []net.Conn
	to := ""
	open := func(target string) {
		mu.Lock()
		defer mu.Unlock()
		to = target
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	t.Cleanup(func() {
		l.Close()
		open("")
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			target := to
			if target == "" {
				held = append(held, c)
			}
			mu.Unlock()
			if target != "" {
				go relay(c, target)
			}
		}
	}()
	return l.Addr().String(), open
}

// Forward listens on addr and relays every connection to target until the
// test ends: an endpoint that refused connections coming back.
func Forward(t TB, addr, target string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go relay(c, target)
		}
	}()
}

// relay copies between c and a new connection to target until either ends.
func relay(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	_, _ = io.Copy(c, up)
}
