package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// childEnv makes the test binary act as a stack program (see TestMain):
// "serve" binds --listen and answers /readyz, "crash" does so and then
// dies, "broken" dies before it listens.
const childEnv = "LOCALSTACK_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// child logs like the real programs do and returns its exit code.
func child(mode, addr string) int {
	if mode == "broken" {
		fmt.Println(`ERROR setup failed: cannot open the database "shop.db"`)
		return 1
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("ERROR problem running manager:", err)
		return 1
	}
	fmt.Println("INFO serving on", l.Addr())
	if mode == "crash" {
		go func() {
			time.Sleep(300 * time.Millisecond)
			fmt.Println("panic: the child crashed on purpose")
			os.Exit(2)
		}()
	}
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	return 0
}

// startChild is a start function for startOnFreePorts running the test
// binary as a child in mode.
func startChild(t *testing.T, dir, mode string, started *atomic.Int32) func(addrs []string) (*Process, string, error) {
	t.Setenv(childEnv, mode)
	return func(addrs []string) (*Process, string, error) {
		started.Add(1)
		p, err := StartProcess(dir, "child", os.Args[0], "-test.run=^$", addrs[0])
		if err != nil {
			return nil, "", err
		}
		t.Cleanup(p.Kill)
		return p, "http://" + addrs[0] + "/readyz", nil
	}
}

func TestStartOnFreePortsPicksAgainWhenAPortWasTaken(t *testing.T) {
	// Another process takes the port between the pick and the child's bind.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	real := FreePort
	var picks atomic.Int32
	FreePort = func() (string, error) {
		if picks.Add(1) == 1 {
			return taken.Addr().String(), nil
		}
		return real()
	}
	defer func() { FreePort = real }()

	var started atomic.Int32
	err = startOnFreePorts(context.Background(), 1, startChild(t, t.TempDir(), "serve", &started))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if started.Load() != 2 {
		t.Errorf("started %d times, want 2 (once on the taken port, once on a fresh one)", started.Load())
	}
}

func TestStartOnFreePortsReportsAChildThatDiesWithItsLog(t *testing.T) {
	var started atomic.Int32
	err := startOnFreePorts(context.Background(), 1, startChild(t, t.TempDir(), "broken", &started))
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err = %v, want an ExitError", err)
	}
	if !strings.Contains(err.Error(), `cannot open the database "shop.db"`) || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("error does not show the child's last log lines and exit status:\n%v", err)
	}
	if started.Load() != 1 {
		t.Errorf("started %d times: only a taken port is worth another try", started.Load())
	}
}

func TestSuperviseEndsTheContextWhenAChildExits(t *testing.T) {
	var started atomic.Int32
	dir := t.TempDir()
	start := startChild(t, dir, "crash", &started)
	addr, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, ready, err := start([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(context.Background(), p, ready); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := Supervise(context.Background(), p)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the context did not end when the child exited")
	}
	var exit *ExitError
	if !errors.As(context.Cause(ctx), &exit) {
		t.Fatalf("cause = %v, want an ExitError", context.Cause(ctx))
	}
	if exit.Name != "child" || !strings.Contains(exit.Tail, "crashed on purpose") || exit.Err == nil || !strings.Contains(exit.Err.Error(), "exit status 2") {
		t.Errorf("exit = %+v, want the child's name, exit status 2 and its last log line", exit)
	}
}
