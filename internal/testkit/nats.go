package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NATS is a nats-server of the test's own, on a free loopback port, so a
// test can stop and restart it.
type NATS struct {
	URL  string
	port int
	bin  string
	dir  string
	cmd  *exec.Cmd
}

// StartNATS runs a private nats-server. Without the binary the test is
// skipped, or fails when PARLEY_REQUIRE_NATS=1 (CI).
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/nats-server"); statErr == nil {
			bin, err = "/usr/sbin/nats-server", nil
		}
	}
	if err != nil {
		if os.Getenv("PARLEY_REQUIRE_NATS") == "1" {
			t.Fatalf("nats-server is required (PARLEY_REQUIRE_NATS=1) but not installed: %v", err)
		}
		t.Skip("nats-server is not installed (apt-get install nats-server); set PARLEY_REQUIRE_NATS=1 to fail instead")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), port: port, bin: bin, dir: t.TempDir()}
	n.Start(t)
	t.Cleanup(n.Stop)
	return n
}

// Start runs the server (again) on its port and waits until it accepts connections.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	n.cmd = exec.Command(n.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-l", filepath.Join(n.dir, "nats.log"))
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling for a port to open, not a timed assertion
	}
}

// Stop kills the server at once, as a crash would.
func (n *NATS) Stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}
