// Inputs no well-behaved Mattermost server sends, on the protocol's own layers (yamux, net/rpc,
// gob, the stream broker): an unknown hook, an argument of the wrong type, garbage where a gob
// message belongs. None may take the plugin down or wedge the hooks a server relies on.
package harness

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// rawHost is the host's side of go-plugin done by hand, so a test can write any bytes.
type rawHost struct {
	cmd     *exec.Cmd
	session *yamux.Session
	control *rpc.Client
}

func startRaw(t *testing.T) *rawHost {
	t.Helper()
	s := loadSetup(t)
	cmd := exec.Command(s.plugin)
	cmd.Env = append(os.Environ(),
		"MATTERMOST_PLUGIN=Securely message teams, anywhere.",
		"PLUGIN_PROTOCOL_VERSIONS=1",
		"PLUGIN_UNIX_SOCKET_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	conn, err := net.Dial(parts[2], parts[3])
	if err != nil {
		t.Fatal(err)
	}
	session, err := yamux.Client(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	control, err := session.Open()
	if err != nil {
		t.Fatal(err)
	}
	// go-plugin's stdout and stderr streams, opened as the real host opens them.
	for i := 0; i < 2; i++ {
		if _, err := session.Open(); err != nil {
			t.Fatal(err)
		}
	}
	return &rawHost{cmd: cmd, session: session, control: rpc.NewClient(control)}
}

// hooks dispenses "hooks" and dials its stream, returning the raw connection.
func (h *rawHost) hooks(t *testing.T) net.Conn {
	t.Helper()
	var id uint32
	if err := h.control.Call("Dispenser.Dispense", "hooks", &id); err != nil {
		t.Fatal(err)
	}
	conn, err := h.session.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(conn, binary.LittleEndian, id); err != nil {
		t.Fatal(err)
	}
	var ack uint32
	if err := binary.Read(conn, binary.LittleEndian, &ack); err != nil || ack != id {
		t.Fatalf("broker ack %d (want %d): %v", ack, id, err)
	}
	return conn
}

func (h *rawHost) alive(t *testing.T) {
	t.Helper()
	if err := h.control.Call("Control.Ping", true, &struct{}{}); err != nil {
		t.Fatalf("Control.Ping: %v", err)
	}
	var implemented []string
	if err := rpc.NewClient(h.hooks(t)).Call("Plugin.Implemented", struct{}{}, &implemented); err != nil || len(implemented) != 5 {
		t.Fatalf("Implemented on a fresh hooks stream: %v %v", implemented, err)
	}
}

func TestBadInput(t *testing.T) {
	h := startRaw(t)
	hooks := rpc.NewClient(h.hooks(t))

	err := hooks.Call("Plugin.NoSuchHook", struct{}{}, &struct{}{})
	if err == nil || err.Error() != "rpc: can't find method Plugin.NoSuchHook" {
		t.Fatalf("an unknown hook: %v", err)
	}
	// A string where Z_ServeHTTPArgs belongs fails that call only.
	if err := hooks.Call("Plugin.ServeHTTP", "not the arguments", &struct{}{}); err == nil {
		t.Fatal("ServeHTTP took a string")
	}
	// Hooks before OnActivate answer, they do not hang.
	var implemented []string
	if err := hooks.Call("Plugin.Implemented", struct{}{}, &implemented); err != nil || len(implemented) != 5 {
		t.Fatalf("Implemented after bad calls: %v %v", implemented, err)
	}

	// Garbage where a gob message belongs: that stream ends, the plugin goes on.
	garbage := h.hooks(t)
	_, _ = garbage.Write([]byte{0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0x20, 0x00, 0x13, 0x37})
	_ = garbage.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := garbage.Read(make([]byte, 64)); err == nil {
		// An answer is fine too, as long as the plugin lives on.
		t.Log("the plugin answered the garbage")
	}
	// A message claiming to be huge, then nothing: refused, not allocated.
	huge := h.hooks(t)
	_, _ = huge.Write([]byte{0xf8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	_ = huge.Close()

	time.Sleep(200 * time.Millisecond)
	if h.cmd.ProcessState != nil {
		t.Fatal("the plugin exited")
	}
	h.alive(t)
}

// When the server's connection closes, the plugin exits: a server never reconnects to it.
func TestHostGoesAway(t *testing.T) {
	h := startRaw(t)
	h.alive(t)
	exited := make(chan error, 1)
	go func() { exited <- h.cmd.Wait() }()
	_ = h.session.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the plugin exited with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the plugin still runs 2 s after the server's connection closed")
	}
}
