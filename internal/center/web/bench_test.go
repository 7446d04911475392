package web_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

// BenchmarkSubmit: form submissions at a fixed rate (100/s), each checked,
// sealed and mailed to mailpit before the answer (the mail is part of the
// latency); reports submissions/s and p50/p99 latency.
func BenchmarkSubmit(b *testing.B) {
	c := newCenter(b, func(_ *config.Config, o *web.Options) {
		o.Limits = web.Limits{PerClient: 1_000_000, PerIdentity: 1_000_000, CodeAttempts: 5, Tracked: 100_000}
	})
	const rate = 100
	n := max(b.N, 200)
	latencies := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"regulation": {"GDPR"}, "type": {"Access"}, "id-email": {fmt.Sprintf("bench%d@example.com", i)}}
			t0 := time.Now()
			resp, err := c.http.PostForm(c.URL+"/requests", form)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("submission %d: %v %v", i, err, resp)
			}
			latencies[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "submissions/s")
	b.ReportMetric(float64(latencies[n/2].Milliseconds()), "p50_ms")
	b.ReportMetric(float64(latencies[n*99/100].Milliseconds()), "p99_ms")
}

// BenchmarkSlowClients: 1,000 clients open connections and send half a
// request each, then hold them; reports the center's heap growth while they
// hold (the server's read deadlines and header limit bound it).
func BenchmarkSlowClients(b *testing.B) {
	c := newCenter(b, nil)
	hs := web.NewHTTPServer("127.0.0.1:0", c.Config.Handler)
	var open sync.WaitGroup
	open.Add(1000)
	hs.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			open.Done()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	var conns []net.Conn
	for range 1000 {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		_, _ = conn.Write([]byte("POST /requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n"))
	}
	open.Wait() // the server holds all of them: measure while they wait
	during := heap()
	for _, conn := range conns {
		conn.Close()
	}
	b.ReportMetric(float64(int64(during)-int64(before))/(1<<20), "heap_growth_MiB")
	b.ReportMetric(1000, "slow_clients")
}
