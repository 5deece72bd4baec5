// The pushgate plugin driven by Mattermost's own plugin host code: plugin.Environment starts
// the Rust executable exactly as a Mattermost server does (checksum, handshake, yamux, gob,
// stream broker) and every hook is called with real HTTP requests.
//
// It needs a running pushgate and the built plugin, named by environment variables; the Rust
// test tests/tests/end_to_end/plugin.rs starts pushgate (with a mock APNs behind it) and runs this module
// once per Mattermost version it pins (go.mod, and compat/*.mod through -modfile).
package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/plugin/plugintest"
	"github.com/mattermost/mattermost/server/public/shared/mlog"
)

const (
	pluginID = "com.mattermost.pushgate"
	secret   = "Harness0Secret0Path0Segment0xyz1"
	siteURL  = "https://chat.example.com"
)

// What the Rust side set up.
type setup struct {
	plugin   string // the pushgate-plugin executable
	grpc     string // pushgate's gRPC address, TLS, host:port
	ca       string // PEM of the CA that signed pushgate's certificate
	token    string // pushgate's GrpcAuthToken
	mpnsHTTP string // pushgate's own MPNS HTTP API, the answers the plugin must equal
	deadGrpc string // a loopback address nothing listens on
}

func loadSetup(t *testing.T) setup {
	t.Helper()
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run this through `cargo test -p pushgate-tests --test end_to_end plugin::`, which starts pushgate and builds the plugin", name)
		}
		return v
	}
	ca, err := os.ReadFile(get("PUSHGATE_CA"))
	if err != nil {
		t.Fatal(err)
	}
	return setup{
		plugin:   get("PUSHGATE_PLUGIN_BIN"),
		grpc:     get("PUSHGATE_GRPC_ADDR"),
		ca:       string(ca),
		token:    get("PUSHGATE_TOKEN"),
		mpnsHTTP: get("PUSHGATE_HTTP"),
		deadGrpc: get("PUSHGATE_DEAD_ADDR"),
	}
}

// The plugin API as the server offers it, recording what the plugin calls. Anything the plugin
// calls beyond these panics in the embedded plugintest mock, failing the run loudly.
type recordingAPI struct {
	plugintest.API
	mu     sync.Mutex
	cfg    map[string]any
	logs   []string
	cmds   []*model.Command
	admins map[string]bool
	saved  []map[string]any // every SavePluginConfig call, in order
}

func (a *recordingAPI) LoadPluginConfiguration(dest any) error {
	a.mu.Lock()
	b, _ := json.Marshal(a.cfg)
	a.mu.Unlock()
	return json.Unmarshal(b, dest)
}

// SavePluginConfig replaces the stored settings, as the server's config store does.
func (a *recordingAPI) SavePluginConfig(cfg map[string]any) *model.AppError {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.saved = append(a.saved, cfg)
	a.cfg = cfg
	return nil
}

func (a *recordingAPI) log(level, msg string, kv []any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logs = append(a.logs, fmt.Sprintf("%s %s %v", level, msg, kv))
}

func (a *recordingAPI) LogDebug(msg string, kv ...any) { a.log("debug", msg, kv) }
func (a *recordingAPI) LogInfo(msg string, kv ...any)  { a.log("info", msg, kv) }
func (a *recordingAPI) LogWarn(msg string, kv ...any)  { a.log("warn", msg, kv) }
func (a *recordingAPI) LogError(msg string, kv ...any) { a.log("error", msg, kv) }

func (a *recordingAPI) RegisterCommand(c *model.Command) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cmds = append(a.cmds, c)
	return nil
}

func (a *recordingAPI) UnregisterCommand(teamID, trigger string) error { return nil }

func (a *recordingAPI) HasPermissionTo(userID string, p *model.Permission) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return p != nil && p.Id == model.PermissionManageSystem.Id && a.admins[userID]
}

// set changes one setting, as the System Console does (keys lower-cased, as the server sends).
func (a *recordingAPI) set(key string, value any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg[strings.ToLower(key)] = value
}

func (a *recordingAPI) logged(part string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.logs {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

func (a *recordingAPI) allLogs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.logs, "\n")
}

type harness struct {
	s         setup
	api       *recordingAPI
	env       *plugin.Environment
	exe       string // the plugin executable inside the plugin directory
	socketDir string
}

// start installs the plugin and activates it through plugin.Environment.
func start(t *testing.T) *harness {
	t.Helper()
	s := loadSetup(t)
	dir, exe := install(t, s.plugin)
	return activate(t, s, dir, exe, nil)
}

// install writes a plugin directory as a bundle unpacks (plugin.json = manifest.json, the
// executable at the manifest's path, mode 0755): the directory holding plugins/, and the
// executable.
func install(t testing.TB, plugin string) (dir, exe string) {
	t.Helper()
	dir = t.TempDir()
	bundle := filepath.Join(dir, "plugins", pluginID)
	exe = filepath.Join(bundle, "server", "dist", "plugin-linux-amd64")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("../manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "plugin.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

// activate starts the plugin in <dir>/plugins/<id> the way a server does; over TLS when the
// setup names a CA. adjust, when not nil, changes the settings before activation.
func activate(t testing.TB, s setup, dir, exe string, adjust func(cfg map[string]any)) *harness {
	t.Helper()
	// The plugin process inherits this environment: its socket goes where the test can see it.
	socketDir := filepath.Join(dir, "sockets")
	if err := os.MkdirAll(socketDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", socketDir)

	api := &recordingAPI{
		cfg: map[string]any{
			"grpcaddress":    s.grpc,
			"grpcauthtoken":  s.token,
			"usetls":         s.ca != "",
			"tlscacert":      s.ca,
			"sendtimeoutsec": 10.0,
			"pathsecret":     secret,
			// allowedsources absent: the default (loopback and private ranges)
		},
		admins: map[string]bool{"admin-user": true},
	}
	if adjust != nil {
		adjust(api.cfg)
	}
	logger, err := mlog.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	env, err := plugin.NewEnvironment(
		func(*model.Manifest) plugin.API { return api },
		nil,
		filepath.Join(dir, "plugins"),
		filepath.Join(dir, "webapp"),
		logger,
		nil,
	)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{s: s, api: api, env: env, exe: exe, socketDir: socketDir}
	_, activated, err := env.Activate(pluginID)
	if err != nil || !activated {
		t.Fatalf("Activate: activated=%v err=%v\nlogs:\n%s", activated, err, api.allLogs())
	}
	t.Cleanup(env.Shutdown)
	return h
}

// serve is one request through the ServeHTTP hook, as the server's plugin router makes it:
// the /plugins/<id> prefix taken off the path, the full path left in RequestURI.
func (h *harness) serve(t testing.TB, method, path string, body []byte, ip string) *httptest.ResponseRecorder {
	t.Helper()
	hooks, err := h.env.HooksForPlugin(pluginID)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.RequestURI = "/plugins/" + pluginID + path
	rec := httptest.NewRecorder()
	hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId(), IPAddress: ip}, rec, req)
	return rec
}

func (h *harness) push(t testing.TB, route string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return h.serve(t, http.MethodPost, "/"+secret+route, body, "127.0.0.1")
}

// direct is the same request to pushgate's own MPNS API: the answer the plugin must equal.
func (h *harness) direct(t *testing.T, method, route string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.s.mpnsHTTP+route, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(h.s.ca))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) command(t *testing.T, user, text string) (*model.CommandResponse, *model.AppError) {
	t.Helper()
	hooks, err := h.env.HooksForPlugin(pluginID)
	if err != nil {
		t.Fatal(err)
	}
	return hooks.ExecuteCommand(&plugin.Context{RequestId: model.NewId()}, &model.CommandArgs{
		UserId: user, Command: text, SiteURL: siteURL,
	})
}

func (h *harness) reconfigure(t *testing.T) error {
	t.Helper()
	hooks, err := h.env.HooksForPlugin(pluginID)
	if err != nil {
		t.Fatal(err)
	}
	return hooks.OnConfigurationChange()
}

// pid of the running plugin process: the one whose executable is this harness's copy.
func (h *harness) pid(t testing.TB) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == h.exe {
			return pid
		}
	}
	return 0
}

// The push of the wire contract's example 10.2, exactly as a Mattermost server sends it.
const fullPush = `{"ack_id":"ackid0000000000000000000a","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","post_id":"postid000000000000000000a","category":"CAN_REPLY","message":"alice: Hello :smile: \u003cb\u003e","badge":3,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","channel_name":"Town Square","type":"message","sender_id":"userid000000000000000000a","sender_name":"alice","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}`

func devicePush(device string) []byte {
	return []byte(fmt.Sprintf(`{"platform":"apple_rn","server_id":"s","device_id":%q,"type":"message","message":"m"}`, device))
}

func expect(t *testing.T, rec *httptest.ResponseRecorder, code int, body string) {
	t.Helper()
	if rec.Code != code || rec.Body.String() != body {
		t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), code, body)
	}
}

// sameAsMPNS checks the plugin's answer equals pushgate's own MPNS API's, byte for byte, with
// the headers a client reads.
func (h *harness) sameAsMPNS(t *testing.T, method, route string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	rec := h.serve(t, method, "/"+secret+route, body, "127.0.0.1")
	code, header, want := h.direct(t, method, route, body)
	if rec.Code != code || rec.Body.String() != want {
		t.Fatalf("%s %s %.60q: plugin %d %q, pushgate %d %q", method, route, body, rec.Code, rec.Body.String(), code, want)
	}
	for _, name := range []string{"Content-Type", "X-Content-Type-Options", "X-Ratelimit-Limit"} {
		if got, want := rec.Header().Get(name), header.Get(name); got != want {
			t.Fatalf("%s %s: header %s plugin %q, pushgate %q", method, route, name, got, want)
		}
	}
	return rec
}

func TestPlugin(t *testing.T) {
	// A second copy of the plugin, left idle while the subtests below run, so the 80 s wait
	// costs no extra time. Activated first: a plugin restarted below takes the socket
	// directory of the latest activation, which must be h's.
	var idle *harness
	var idleSince time.Time
	if os.Getenv("PUSHGATE_HARNESS_SHORT") == "" {
		idle = start(t)
		idleSince = time.Now()
	}
	h := start(t)

	t.Run("activation", func(t *testing.T) {
		h.api.mu.Lock()
		cmds := h.api.cmds
		h.api.mu.Unlock()
		if len(cmds) != 1 || cmds[0].Trigger != "pushgate" || !cmds[0].AutoComplete {
			t.Fatalf("registered commands: %+v", cmds)
		}
		if !h.api.logged("pushgate plugin activated") {
			t.Fatalf("no activation log line:\n%s", h.api.allLogs())
		}
		if strings.Contains(h.api.allLogs(), secret) || strings.Contains(h.api.allLogs(), h.s.token) {
			t.Fatalf("a secret reached the server log:\n%s", h.api.allLogs())
		}
	})

	t.Run("outcomes", func(t *testing.T) {
		// OK, REMOVE and FAIL come from the mock APNs behind pushgate; the validation FAILs are
		// pushgate's INVALID_ARGUMENT carrying MPNS's text (wire contract §10.1, §10.2).
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
		expect(t, h.push(t, "/api/v1/send_push", devicePush("dead0001")), 200, "{\"status\":\"REMOVE\"}\n")
		expect(t, h.push(t, "/api/v1/send_push", devicePush("badd0001")), 200, "{\"error\":\"unknown send response error\",\"status\":\"FAIL\"}\n")
		expect(t, h.push(t, "/api/v1/send_push", []byte(`{"message":"test","badge":1,"device_id":"test"}`)), 200,
			"{\"error\":\"Failed because of missing server Id\",\"status\":\"FAIL\"}\n")
		expect(t, h.push(t, "/api/v1/ack", []byte(`{"id":"abcxyz","platform":"android","type":"message"}`)), 200, "{\"status\":\"OK\"}\n")
	})

	t.Run("byte for byte as pushgate's own MPNS API", func(t *testing.T) {
		for _, body := range []string{
			`{"message":"test","badge":1,"device_id":"test"}`,
			`{"message":"test","badge":1,"device_id":"test","server_id":"test"}`,
			`{"message":"test","badge":1,"device_id":"test","server_id":"test","platform":"junk"}`,
			`{"server_id":"s1","platform":"android_rn-v2"}`,
			``,
			`{`,
			`{"server_id":"s","device_id":"d","badge":"3"}`,
			`<xml/>`,
			fullPush,
			string(devicePush("dead0001")),
		} {
			h.sameAsMPNS(t, http.MethodPost, "/api/v1/send_push", []byte(body))
		}
		for _, body := range []string{
			`{"id":"abcxyz","platform":"android","type":"message"}`,
			`{"id":"ack1","received_at":1718000000000,"platform":"ios","type":"message","post_id":"post1","is_id_loaded":true}`,
			`{"platform":"ios","type":"message"}`,
			`{"id":"x","type":"message"}`,
			`{"id":"x","platform":"ios"}`,
			`{"id":1}`,
		} {
			h.sameAsMPNS(t, http.MethodPost, "/api/v1/ack", []byte(body))
		}
		// Another method on a push route, an unknown route, the other MPNS routes.
		h.sameAsMPNS(t, http.MethodGet, "/api/v1/send_push", nil)
		h.sameAsMPNS(t, http.MethodPut, "/api/v1/ack", nil)
		rec := h.sameAsMPNS(t, http.MethodPost, "/api/v1/nothing", nil)
		expect(t, rec, 404, "404 page not found\n")
		h.sameAsMPNS(t, http.MethodGet, "/", nil)
		// The same build: the same hash and version.
		h.sameAsMPNS(t, http.MethodGet, "/version", nil)
	})

	t.Run("the path secret and the source allowlist", func(t *testing.T) {
		unknown := h.serve(t, http.MethodPost, "/api/v1/nothing", nil, "127.0.0.1")
		for _, path := range []string{
			"/api/v1/send_push",
			"/" + secret[:len(secret)-1] + "/api/v1/send_push",
			"/" + secret + "x/api/v1/send_push",
			"/" + strings.ToLower(secret) + "/api/v1/send_push",
		} {
			rec := h.serve(t, http.MethodPost, path, []byte(fullPush), "127.0.0.1")
			if rec.Code != 404 || rec.Body.String() != unknown.Body.String() ||
				rec.Header().Get("Content-Type") != unknown.Header().Get("Content-Type") {
				t.Fatalf("%s: %d %q, want the unknown-route answer", path, rec.Code, rec.Body.String())
			}
		}
		// From outside the private ranges: the same 404, with the right secret.
		expect(t, h.serve(t, http.MethodPost, "/"+secret+"/api/v1/send_push", []byte(fullPush), "203.0.113.7"), 404, "404 page not found\n")
		// No address known: refused too.
		expect(t, h.serve(t, http.MethodPost, "/"+secret+"/api/v1/send_push", []byte(fullPush), ""), 404, "404 page not found\n")
		// The allowlist emptied: from anywhere.
		h.api.set("AllowedSources", "")
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		expect(t, h.serve(t, http.MethodPost, "/"+secret+"/api/v1/send_push", []byte(fullPush), "203.0.113.7"), 200, "{\"status\":\"OK\"}\n")
		h.api.set("AllowedSources", "127.0.0.1/32")
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		expect(t, h.serve(t, http.MethodPost, "/"+secret+"/api/v1/send_push", []byte(fullPush), "10.1.1.1"), 404, "404 page not found\n")
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
		if strings.Contains(h.api.allLogs(), secret) {
			t.Fatal("the path secret reached the server log")
		}
	})

	t.Run("body sizes", func(t *testing.T) {
		// 300 KiB crosses the 256 KiB yamux window; 1 MiB + 1 is past the bridge's limit.
		big := bytes.Repeat([]byte("a"), 300<<10)
		withBig := []byte(fmt.Sprintf(`{"platform":"apple_rn","server_id":"s","device_id":"0b16","type":"message","message":%q}`, big))
		h.sameAsMPNS(t, http.MethodPost, "/api/v1/send_push", withBig)
		h.sameAsMPNS(t, http.MethodPost, "/api/v1/send_push", []byte("x"))
		tooBig := bytes.Repeat([]byte(" "), (1<<20)+1)
		rec := h.push(t, "/api/v1/send_push", tooBig)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"FAIL"`) || !strings.Contains(rec.Body.String(), "too large") {
			t.Fatalf("a body over the limit: %d %q", rec.Code, rec.Body.String())
		}
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
	})

	t.Run("64 concurrent requests", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				device, want := fmt.Sprintf("0c%06x", i), "{\"status\":\"OK\"}\n"
				if i%2 == 1 {
					device, want = fmt.Sprintf("dead%04x", i), "{\"status\":\"REMOVE\"}\n"
				}
				rec := h.push(t, "/api/v1/send_push", devicePush(device))
				if rec.Code != 200 || rec.Body.String() != want {
					errs <- fmt.Sprintf("%s: %d %q", device, rec.Code, rec.Body.String())
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("general Send through the plugin's URL", func(t *testing.T) {
		rec := h.push(t, "/api/v2/send", []byte(`{"target":"apple_rn","tokens":["0d0002","dead0003"],"notification":{"alert":{"title":"T","body":"B"}}}`))
		want := `{"results":[{"token":"0d0002","status":"STATUS_OK","providerId":"`
		if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), want) || !strings.Contains(rec.Body.String(), `{"token":"dead0003","status":"STATUS_REMOVE","reason":"Unregistered"}`) {
			t.Fatalf("/api/v2/send: %d %q", rec.Code, rec.Body.String())
		}
	})

	t.Run("status command", func(t *testing.T) {
		// A push with an ack id, then its ack: pushgate's delivery figures count it.
		ackPush := []byte(`{"ack_id":"statusack0000000000000000a","platform":"apple_rn","server_id":"s","device_id":"0d0001","type":"message","message":"m"}`)
		expect(t, h.push(t, "/api/v1/send_push", ackPush), 200, "{\"status\":\"OK\"}\n")
		expect(t, h.push(t, "/api/v1/ack", []byte(`{"id":"statusack0000000000000000a","platform":"ios","type":"message"}`)), 200, "{\"status\":\"OK\"}\n")
		resp, appErr := h.command(t, "admin-user", "/pushgate status")
		if appErr != nil || resp == nil || resp.ResponseType != model.CommandResponseTypeEphemeral {
			t.Fatalf("status: %+v %v", resp, appErr)
		}
		fmt.Printf("/pushgate status answered:\n%s\n\n", resp.Text)
		for _, part := range []string{
			"pushgate at `" + h.s.grpc + "` (TLS)",
			"- process: SERVING",
			"- pushgate.v1.PushProxy: SERVING",
			"- apple_rn: SERVING",
			"- apple: NOT_SERVING",
			"`" + siteURL + "/plugins/" + pluginID + "/" + secret + "`",
		} {
			if !strings.Contains(resp.Text, part) {
				t.Fatalf("status lacks %q:\n%s", part, resp.Text)
			}
		}
		delivery := regexp.MustCompile(`- apple: [\d.]+% \((\d+) of (\d+)\), median push-to-device [\d.]+ s\n`).FindStringSubmatch(resp.Text)
		if delivery == nil || !strings.Contains(resp.Text, "Delivery in the last hour (pushes acked by the device):") {
			t.Fatalf("no delivery figures in:\n%s", resp.Text)
		}
		if acked, _ := strconv.Atoi(delivery[1]); acked < 1 {
			t.Fatalf("the acked push is not counted:\n%s", resp.Text)
		}
		counts := regexp.MustCompile(`(\d+) sent OK, (\d+) REMOVE \(device gone\), (\d+) FAIL; refused: (\d+) wrong path secret, (\d+) source not allowed`).FindStringSubmatch(resp.Text)
		if counts == nil {
			t.Fatalf("no counts in:\n%s", resp.Text)
		}
		for i, min := range []int{1, 1, 1, 1, 1} {
			if n, _ := strconv.Atoi(counts[i+1]); n < min {
				t.Fatalf("count %d is %d:\n%s", i, n, resp.Text)
			}
		}
		resp, appErr = h.command(t, "plain-user", "/pushgate status")
		if appErr != nil || resp == nil || !strings.Contains(resp.Text, "Only a system admin") || strings.Contains(resp.Text, secret) {
			t.Fatalf("a non-admin got: %+v %v", resp, appErr)
		}
		resp, _ = h.command(t, "admin-user", "/pushgate")
		if resp == nil || !strings.Contains(resp.Text, "Usage") {
			t.Fatalf("usage: %+v", resp)
		}
	})

	t.Run("settings changes", func(t *testing.T) {
		// pushgate unreachable: a FAIL at once, and the status says so.
		h.api.set("GrpcAddress", h.s.deadGrpc)
		h.api.set("UseTLS", false)
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		rec := h.push(t, "/api/v1/send_push", []byte(fullPush))
		if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "{\"error\":\"pushgate upstream error: ") || !strings.HasSuffix(rec.Body.String(), "\"status\":\"FAIL\"}\n") {
			t.Fatalf("pushgate down: %d %q", rec.Code, rec.Body.String())
		}
		if took := time.Since(started); took > 12*time.Second {
			t.Fatalf("pushgate down took %v, past the send budget", took)
		}
		resp, _ := h.command(t, "admin-user", "/pushgate status")
		if resp == nil || !strings.Contains(resp.Text, "unreachable") {
			t.Fatalf("status with pushgate down: %+v", resp)
		}
		// pushgate accepting connections but never answering: a FAIL within the send budget.
		hole, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		go func() {
			for {
				conn, err := hole.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		h.api.set("GrpcAddress", hole.Addr().String())
		h.api.set("SendTimeoutSec", 2.0)
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		started = time.Now()
		rec = h.push(t, "/api/v1/send_push", []byte(fullPush))
		if !strings.HasPrefix(rec.Body.String(), "{\"error\":\"pushgate upstream error: ") {
			t.Fatalf("pushgate silent: %d %q", rec.Code, rec.Body.String())
		}
		// The gRPC deadline is the budget + 2 s; the connect timeout 3 s.
		if took := time.Since(started); took > 6*time.Second {
			t.Fatalf("pushgate silent: answered after %v", took)
		}
		fmt.Printf("pushgate silent: FAIL after %v\n", time.Since(started).Round(time.Millisecond))

		// An invalid value is refused with a log line; the settings in force stay.
		h.api.set("GrpcAddress", h.s.grpc)
		h.api.set("UseTLS", true)
		h.api.set("SendTimeoutSec", 99.0)
		if err := h.reconfigure(t); err == nil {
			t.Fatal("SendTimeoutSec 99 was accepted")
		}
		if !h.api.logged("settings refused") || !h.api.logged("SendTimeoutSec") {
			t.Fatalf("no log line for the refused settings:\n%s", h.api.allLogs())
		}
		rec = h.push(t, "/api/v1/send_push", []byte(fullPush))
		if !strings.Contains(rec.Body.String(), "pushgate upstream error") {
			t.Fatalf("the refused settings took effect: %q", rec.Body.String())
		}
		// Fixed: back to pushgate.
		h.api.set("SendTimeoutSec", 10.0)
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
		// The wrong token: pushgate refuses the call, the plugin answers FAIL.
		h.api.set("GrpcAuthToken", "not-the-token")
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		rec = h.push(t, "/api/v1/send_push", []byte(fullPush))
		if !strings.Contains(rec.Body.String(), "\"status\":\"FAIL\"") {
			t.Fatalf("wrong token: %q", rec.Body.String())
		}
		h.api.set("GrpcAuthToken", h.s.token)
		if err := h.reconfigure(t); err != nil {
			t.Fatal(err)
		}
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
		if strings.Contains(h.api.allLogs(), "not-the-token") || strings.Contains(h.api.allLogs(), h.s.token) {
			t.Fatal("a token reached the server log")
		}
	})

	t.Run("health checks", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if err := h.env.PerformHealthCheck(pluginID); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("crash and restart", func(t *testing.T) {
		pid := h.pid(t)
		if pid == 0 {
			t.Fatal("no plugin process found")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			if err = h.env.PerformHealthCheck(pluginID); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err == nil {
			t.Fatal("the health check still passes with the plugin killed")
		}
		if err := h.env.RestartPlugin(pluginID); err != nil {
			t.Fatal(err)
		}
		if err := h.env.PerformHealthCheck(pluginID); err != nil {
			t.Fatal(err)
		}
		if h.pid(t) == pid || h.pid(t) == 0 {
			t.Fatal("no new plugin process")
		}
		expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
	})

	t.Run("deactivate", func(t *testing.T) {
		pid := h.pid(t)
		// The process killed above could not remove its socket; this one must.
		before, _ := os.ReadDir(h.socketDir)
		started := time.Now()
		h.env.Deactivate(pluginID)
		took := time.Since(started)
		// The host waits 2 s before killing a plugin that did not exit on Quit.
		if took >= 2*time.Second {
			t.Fatalf("Deactivate took %v: the plugin did not exit on Quit", took)
		}
		if err := syscall.Kill(pid, 0); err == nil {
			t.Fatalf("plugin process %d still runs", pid)
		}
		after, _ := os.ReadDir(h.socketDir)
		if len(after) != len(before)-1 {
			t.Fatalf("socket files before Deactivate %v, after %v", before, after)
		}
		fmt.Printf("Deactivate took %v\n", took)
	})

	if idle != nil {
		t.Run("idle 80 s", func(t *testing.T) {
			// Past yamux's 75 s stream-open timeout and two 30 s keepalive periods.
			time.Sleep(time.Until(idleSince.Add(80 * time.Second)))
			if err := idle.env.PerformHealthCheck(pluginID); err != nil {
				t.Fatal(err)
			}
			expect(t, idle.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
		})
	}
}

// The archive `plugin/bundle` makes, unpacked as the server unpacks an upload (one top
// directory = the bundle root), then activated and used.
func TestBundle(t *testing.T) {
	s := loadSetup(t)
	archive := os.Getenv("PUSHGATE_PLUGIN_BUNDLE")
	if archive == "" {
		t.Fatal("PUSHGATE_PLUGIN_BUNDLE is not set: run this through `cargo test -p pushgate-tests --test end_to_end plugin::`")
	}
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tops := map[string]bool{}
	r := tar.NewReader(gz)
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tops[strings.SplitN(hdr.Name, "/", 2)[0]] = true
		path := filepath.Join(plugins, hdr.Name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		if err := os.WriteFile(path, data, os.FileMode(hdr.Mode)); err != nil {
			t.Fatal(err)
		}
	}
	if len(tops) != 1 || !tops[pluginID] {
		t.Fatalf("top directories %v, want just %s", tops, pluginID)
	}
	manifest, _, err := model.FindManifest(filepath.Join(plugins, pluginID))
	if err != nil {
		t.Fatal(err)
	}
	if err := manifest.IsValid(); err != nil {
		t.Fatal(err)
	}
	exe := manifest.GetExecutableForRuntime("linux", "amd64")
	exe = filepath.Join(plugins, pluginID, exe)
	if info, err := os.Stat(exe); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("executable %s: %v %v", exe, info, err)
	}
	h := activate(t, s, dir, exe, nil)
	expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
}

// Activated with settings it cannot use, the plugin stays up and says why on every push, and
// the fix applies without a restart.
func TestUnconfigured(t *testing.T) {
	s := loadSetup(t)
	dir, exe := install(t, s.plugin)
	h := activate(t, s, dir, exe, func(cfg map[string]any) { cfg["pathsecret"] = "short" })
	rec := h.serve(t, http.MethodPost, "/whatever/api/v1/send_push", []byte(fullPush), "127.0.0.1")
	expect(t, rec, 200, "{\"error\":\"pushgate plugin is not configured: PathSecret must have at least 16 characters: press Regenerate in the plugin's settings\",\"status\":\"FAIL\"}\n")
	expect(t, h.serve(t, http.MethodGet, "/whatever/", nil, "127.0.0.1"), 404, "404 page not found\n")
	if !h.api.logged("pushgate plugin settings refused (push requests answer FAIL until this is fixed)") {
		t.Fatalf("no log line for the refused settings:\n%s", h.api.allLogs())
	}
	resp, _ := h.command(t, "admin-user", "/pushgate status")
	if resp == nil || !strings.Contains(resp.Text, "pushgate plugin is not configured: PathSecret") {
		t.Fatalf("status: %+v", resp)
	}
	h.api.set("PathSecret", secret)
	if err := h.reconfigure(t); err != nil {
		t.Fatal(err)
	}
	expect(t, h.push(t, "/api/v1/send_push", []byte(fullPush)), 200, "{\"status\":\"OK\"}\n")
}

// Enabled before its settings page was ever saved (Mattermost fills a generated setting only
// then), the plugin has no PathSecret: it makes one, saves it through the plugin API with every
// other setting as it was, shows it in /pushgate status, and pushes work at once.
func TestGeneratedPathSecret(t *testing.T) {
	s := loadSetup(t)
	dir, exe := install(t, s.plugin)
	h := activate(t, s, dir, exe, func(cfg map[string]any) { delete(cfg, "pathsecret") })
	h.api.mu.Lock()
	saved := h.api.saved
	h.api.mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("SavePluginConfig calls: %d, want 1", len(saved))
	}
	generated, _ := saved[0]["pathsecret"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`).MatchString(generated) {
		t.Fatalf("generated PathSecret %q", generated)
	}
	if saved[0]["grpcaddress"] != s.grpc || saved[0]["grpcauthtoken"] != s.token ||
		saved[0]["usetls"] != (s.ca != "") || saved[0]["tlscacert"] != s.ca || saved[0]["sendtimeoutsec"] != 10.0 {
		t.Fatalf("the other settings were not kept: %v", saved[0])
	}
	rec := h.serve(t, http.MethodPost, "/"+generated+"/api/v1/send_push", []byte(fullPush), "127.0.0.1")
	expect(t, rec, 200, "{\"status\":\"OK\"}\n")
	resp, _ := h.command(t, "admin-user", "/pushgate status")
	if resp == nil || !strings.Contains(resp.Text, "/plugins/"+pluginID+"/"+generated+"`") {
		t.Fatalf("status does not show the generated secret: %+v", resp)
	}
	if strings.Contains(h.api.allLogs(), generated) {
		t.Fatal("the secret is in the server log")
	}
}
