// Command dns is the cluster DNS of hack/cluster's one-node cluster, in
// place of CoreDNS: it answers A queries for <service>.<namespace>.svc.<domain>
// with the Service's ClusterIP (or, for a headless Service, its ready
// endpoints' addresses) and NXDOMAIN for every other name, so that pods
// resolve Services and nothing beyond the node. It watches Services and
// EndpointSlices with the kubeconfig it is given.
//
//	dns --kubeconfig=admin.kubeconfig --listen=192.0.2.2:53 --domain=cluster.local
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// ttl of every answer: short, as Services come and go during the tests.
const ttl = 5

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster whose Services are served")
	listen := flag.String("listen", "127.0.0.1:53", "UDP and TCP address to answer on")
	domain := flag.String("domain", "cluster.local", "the cluster domain")
	flag.Parse()
	if err := run(*kubeconfig, *listen, *domain); err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, listen, domain string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	r := &resolver{
		suffix:    ".svc." + strings.Trim(domain, ".") + ".",
		services:  factory.Core().V1().Services().Lister(),
		endpoints: factory.Discovery().V1().EndpointSlices().Lister(),
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", typ)
		}
	}

	udp, err := net.ListenPacket("udp", listen)
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); udp.Close(); tcp.Close() }()
	go r.serveTCP(tcp)
	slog.Info("answering", "listen", listen, "names", "*"+r.suffix)
	buf := make([]byte, 512)
	for {
		n, addr, err := udp.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if out := r.answer(buf[:n]); out != nil {
			_, _ = udp.WriteTo(out, addr)
		}
	}
}

// serveTCP answers queries over TCP (two-byte length prefix).
func (r *resolver) serveTCP(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			var size [2]byte
			if _, err := io.ReadFull(conn, size[:]); err != nil {
				return
			}
			msg := make([]byte, int(size[0])<<8|int(size[1]))
			if _, err := io.ReadFull(conn, msg); err != nil {
				return
			}
			out := r.answer(msg)
			if out == nil {
				return
			}
			_, _ = conn.Write(append([]byte{byte(len(out) >> 8), byte(len(out))}, out...))
		}()
	}
}

// resolver answers from the informers' caches.
type resolver struct {
	suffix    string
	services  listerscorev1.ServiceLister
	endpoints listersdiscoveryv1.EndpointSliceLister
}

// answer builds the response to one query; nil drops a message that cannot
// be parsed.
func (r *resolver) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	h.Response, h.Authoritative, h.RecursionAvailable = true, true, false
	h.RCode = dnsmessage.RCodeSuccess
	addrs, known := r.lookup(strings.ToLower(q.Name.String()))
	if !known {
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if err := b.Question(q); err != nil {
		return nil
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	if q.Type == dnsmessage.TypeA {
		for _, a := range addrs {
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: ttl}
			if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
				return nil
			}
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// lookup finds <service>.<namespace> under the suffix; known is false for
// a name that does not exist (NXDOMAIN), true with no addresses for a
// Service that has none of the asked kind.
func (r *resolver) lookup(name string) (addrs []netip.Addr, known bool) {
	rest, ok := strings.CutSuffix(name, r.suffix)
	if !ok {
		return nil, false
	}
	svcName, namespace, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(namespace, ".") {
		return nil, false
	}
	svc, err := r.services.Services(namespace).Get(svcName)
	if err != nil {
		return nil, false
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.Is4() {
			return []netip.Addr{a}, true
		}
		return nil, true
	}
	slices, err := r.endpoints.EndpointSlices(namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svcName}))
	if err != nil {
		return nil, true
	}
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, ip := range e.Addresses {
				if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
					addrs = append(addrs, a)
				}
			}
		}
	}
	return addrs, true
}
