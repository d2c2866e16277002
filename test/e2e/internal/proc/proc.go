// Package proc starts the suite's background processes, each with its own
// log file and a pid file, stops them by pid, and sweeps what a previous
// crashed run left behind.
package proc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one started program.
type Process struct {
	Name    string
	LogPath string
	Cmd     *exec.Cmd

	pidFile string
	done    chan struct{}
	mu      sync.Mutex
	waitErr error
}

// Options for Start.
type Options struct {
	// Dir is the working directory.
	Dir string
	// Env is the full environment (nil: none).
	Env []string
	// LogDir receives <Name>.log.
	LogDir string
	// PidDir receives <Name>.pid ("<pid> <binary>").
	PidDir string
}

// Start starts bin with args as its own process group.
func Start(name string, o Options, bin string, args ...string) (*Process, error) {
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.LogDir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "=== %s started %s: %s %s\n", name, time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = o.Dir
	cmd.Env = o.Env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, Cmd: cmd, done: make(chan struct{})}
	if o.PidDir != "" {
		if err := os.MkdirAll(o.PidDir, 0o755); err == nil {
			p.pidFile = filepath.Join(o.PidDir, name+".pid")
			_ = os.WriteFile(p.pidFile, []byte(fmt.Sprintf("%d %s\n", cmd.Process.Pid, bin)), 0o644)
		}
	}
	go func() {
		err := cmd.Wait()
		lf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended, and its wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs.
func (p *Process) Stop(grace time.Duration) {
	if p == nil {
		return
	}
	pid := p.Pid()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	// Children left in the group (if any).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if p.pidFile != "" {
		_ = os.Remove(p.pidFile)
	}
}

// LogName names the log for a dump header.
func (p *Process) LogName() string { return p.Name + " log (" + p.LogPath + ")" }

// LogSize is the current size of the log file, to mark where a scenario starts.
func (p *Process) LogSize() int64 { return fileSize(p.LogPath) }

// LogSince returns the log written after offset, at most max bytes (the tail).
func (p *Process) LogSince(offset int64, max int) string { return readSince(p.LogPath, offset, max) }

// FileLog is a log file written by something other than a child process
// (e.g. the in-process emulator).
type FileLog struct {
	Name, Path string
}

// LogName names the log for a dump header.
func (f FileLog) LogName() string { return f.Name + " log (" + f.Path + ")" }

// LogSize is the current size of the log file.
func (f FileLog) LogSize() int64 { return fileSize(f.Path) }

// LogSince returns the log written after offset, at most max bytes (the tail).
func (f FileLog) LogSince(offset int64, max int) string { return readSince(f.Path, offset, max) }

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readSince(path string, offset int64, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err.Error()
	}
	b, _ := io.ReadAll(f)
	if max > 0 && len(b) > max {
		b = append([]byte(fmt.Sprintf("... (%d bytes cut)\n", len(b)-max)), b[len(b)-max:]...)
	}
	return string(b)
}

// Sweep kills the processes recorded in pidDir by an earlier run, if they
// are still the same programs, and removes the pid files. It returns what
// it killed.
func Sweep(pidDir string) []string {
	entries, err := os.ReadDir(pidDir)
	if err != nil {
		return nil
	}
	var killed []string
	for _, e := range entries {
		path := filepath.Join(pidDir, e.Name())
		b, err := os.ReadFile(path)
		_ = os.Remove(path)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 1 {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if filepath.Clean(exe) != filepath.Clean(fields[1]) {
			continue // the pid was reused by another program
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		killed = append(killed, fmt.Sprintf("%s (pid %d)", e.Name(), pid))
	}
	if len(killed) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	return killed
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitFor polls cond every interval until it returns true, the process
// exits, or timeout passes.
func (p *Process) WaitFor(timeout, interval time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited (%v) while waiting for %s; log tail:\n%s", p.Name, err, what, p.LogSince(0, 4000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// ErrNotRoot is returned by RequireRoot.
var ErrNotRoot = errors.New("the e2e suite must run as root (the driver mounts tmpfs)")

// RequireRoot fails unless the effective uid is 0.
func RequireRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}
