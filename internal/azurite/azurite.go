// Package azurite starts the Azurite table emulator (installed by `npm ci`
// into node_modules, pinned in package.json) for tests and benchmarks, on a
// free loopback port, and stops it when the test ends. It never skips: a
// missing Azurite fails the test with the command that installs it.
package azurite

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Account and Key are Azurite's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Options configures Start.
type Options struct {
	// Disk persists to a t.TempDir() (--location) so that data survives
	// Stop/Restart; otherwise --inMemoryPersistence (the two cannot be combined).
	Disk bool
}

// Server is one running azurite-table process.
type Server struct {
	t        testing.TB
	bin      string
	location string // "" for in-memory
	port     int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
	seq    atomic.Int64
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("azurite: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start runs azurite-table on a free loopback port and waits until it
// accepts connections; it is killed (by PID) in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("azurite: %v", err)
	}
	bin := filepath.Join(root, "node_modules", ".bin", "azurite-table")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("azurite: %s is missing: run `npm ci` in %s (Azurite is pinned in package.json)", bin, root)
	}
	s := &Server{t: t, bin: bin}
	if opts.Disk {
		s.location = t.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("azurite: find a free port: %v", err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatalf("azurite: %v", err)
	}
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	args := []string{"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(s.port),
		"--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"}
	if s.location != "" {
		args = append(args, "--location", s.location)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	cmd := exec.Command(s.bin, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("azurite-table exited before listening on %s: %s", s.Addr(), out.String())
		case <-time.After(25 * time.Millisecond): // polling a port: there is no event to await
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("azurite-table did not listen on %s within 30s: %s", s.Addr(), out.String())
		}
	}
	s.cmd, s.exited, s.out = cmd, exited, out
	return nil
}

// Stop ends the process by its PID: SIGINT first, on which Azurite closes
// its database (with Options.Disk it saves it: its autosave runs only every
// 5 s), then SIGKILL if it has not exited within 10 s. It waits for the
// exit. Safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart starts the server again on the same port (and location).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("azurite: restart: %v", err)
	}
}

// Addr is host:port of the table service.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// ConnString is a connection string for the server's table endpoint.
func (s *Server) ConnString() string { return ConnStringFor("http://" + s.Addr()) }

// ConnStringFor is a connection string for the development account at base
// (scheme://host:port), e.g. a proxy in front of the server.
func ConnStringFor(base string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + Account + ";AccountKey=" + Key +
		";TableEndpoint=" + base + "/" + Account + ";"
}

// Prefix returns a table prefix not used before on this server, so each
// test gets its own tables (Azurite's scans slow down as tables grow).
func (s *Server) Prefix() string {
	return fmt.Sprintf("t%dx%d", os.Getpid()%100000, s.seq.Add(1))
}
