package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a program started by the local stack, in a process group of
// its own, logging to a file under the state directory.
type Process struct {
	Name    string
	LogPath string
	// logStart is where this run's output begins in the log (appended
	// to across restarts).
	logStart int64
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
}

// StartProcess starts bin with args, logging to dir/logs/name.log. The
// arguments must name dir (every process here does, through its data,
// config or log paths) so that StopLeftovers finds it after a crash.
func StartProcess(dir, name, bin string, args ...string) (*Process, error) {
	return startProcess(dir, name, bin, nil, args...)
}

// startProcess is StartProcess with the child's environment (nil: ours).
func startProcess(dir, name, bin string, env []string, args ...string) (*Process, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "logs", name+".log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	var start int64
	if info, err := log.Stat(); err == nil {
		start = info.Size()
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, logStart: start, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is how the process ended, once Exited is closed.
func (p *Process) Err() error { return p.err }

// Stop asks the process to end (SIGTERM) and kills it after 10 s.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Kill ends the process at once (SIGKILL), as a crash would, and waits.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// StopLeftovers ends every process of the local stack whose command line
// names dir: the control plane, operator, data sources, privacy center and
// mailpit of an earlier run that crashed or was killed. Only the stack's
// own programs are considered (an editor with a file of dir open is left
// alone).
func StopLeftovers(dir string) error {
	pids, err := processesNaming(dir)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pids, _ = processesNaming(dir); len(pids) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(200 * time.Millisecond)
	if pids, _ = processesNaming(dir); len(pids) > 0 {
		return fmt.Errorf("processes %v under %s did not end", pids, dir)
	}
	return nil
}

// Running lists the local stack's processes whose command line names dir.
func Running(dir string) ([]int, error) { return processesNaming(dir) }

// stackPrograms are the programs the local stack starts.
var stackPrograms = map[string]bool{"etcd": true, "kube-apiserver": true, "manager": true, "sql-datasource": true,
	"privacy-center": true, "mailpit": true}

// processesNaming lists the live processes whose command line contains dir.
func processesNaming(dir string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, errors.New("finding leftover processes needs /proc (Linux)")
	}
	self, parent := os.Getpid(), os.Getppid()
	needle := []byte(dir)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == parent {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if !stackPrograms[filepath.Base(string(argv0))] {
			continue
		}
		// A zombie has ended; only its parent can reap it.
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// FreePort returns a loopback address with a port that was free a moment
// ago. Another process may take it before the child binds it: callers go
// through startOnFreePorts, which picks again when that happens.
var FreePort = func() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Tail returns the last n lines this run of the process logged.
func (p *Process) Tail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil || int64(len(data)) < p.logStart {
		return ""
	}
	data = data[p.logStart:]
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ExitError reports a child process that ended while the stack needed it:
// its name, how it ended and the last lines of its log.
type ExitError struct {
	Name, LogPath, Tail string
	Err                 error
}

func (e *ExitError) Error() string {
	how := "exited"
	if e.Err != nil {
		how = "exited: " + e.Err.Error()
	}
	return fmt.Sprintf("%s %s; the last lines of %s:\n%s", e.Name, how, e.LogPath, indentLines(e.Tail))
}

func (e *ExitError) Unwrap() error { return e.Err }

func (p *Process) exitError() *ExitError {
	return &ExitError{Name: p.Name, LogPath: p.LogPath, Tail: p.Tail(tailLines), Err: p.Err()}
}

// tailLines is how much of a dead child's log an error shows.
const tailLines = 15

func indentLines(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// Supervise returns a context that ends, with an *ExitError as its cause,
// the moment any of procs exits: whoever waits on the stack learns at once
// which child died and why, instead of at a timeout.
func Supervise(ctx context.Context, procs ...*Process) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	for _, p := range procs {
		go func() {
			select {
			case <-p.Exited():
				cancel(p.exitError())
			case <-ctx.Done():
			}
		}()
	}
	return ctx, func() { cancel(context.Canceled) }
}
