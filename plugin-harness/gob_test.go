// Golden gob files, both ways, for every message type the plugin exchanges:
//
//   - testdata/gob/server-<Mattermost version>/*.gob: Go's own encoding of the real plugin.Z_*
//     structs (net/rpc header first, as on the wire), which the Rust unit tests in
//     plugin/src/wire.rs decode. Written with `go test -run Gob -update`; checked here to
//     decode back into the real types.
//   - testdata/gob/rust/*.gob: what the plugin's Rust encoder writes (its unit tests keep them
//     current), decoded here into the real Mattermost types and compared field by field.
//
// No processes: a gob mistake shows here in milliseconds, where on a live hooks stream it
// would silently break every later call (the host's health check does not notice).
package harness

import (
	"bytes"
	"encoding/gob"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

var update = flag.Bool("update", false, "rewrite the Go-encoded golden files")

// hostVersion names the Mattermost release the pinned server/public module belongs to (test
// binaries carry no dependency list to read the module version from).
func hostVersion() string {
	return "server-" + model.CurrentVersion
}

// serveHTTPArgs fills Z_ServeHTTPArgs for either host form: older modules carry the request as
// *http.Request, newer ones as *plugin.HTTPRequestSubset.
func serveHTTPArgs() any {
	req := httptest.NewRequest(http.MethodPost, "/Sec0/api/v1/send_push?x=1", nil)
	req.RequestURI = "/plugins/com.mattermost.pushgate/Sec0/api/v1/send_push?x=1"
	req.RemoteAddr = "10.0.0.9:5555"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "10.0.0.9")
	req.Body = nil
	args := &plugin.Z_ServeHTTPArgs{
		ResponseWriterStream: 3,
		Context:              &plugin.Context{RequestId: "r1", IPAddress: "10.0.0.9"},
		RequestBodyStream:    4,
	}
	field := reflect.ValueOf(args).Elem().FieldByName("Request")
	if field.Type() == reflect.TypeOf(req) {
		field.Set(reflect.ValueOf(req))
	} else {
		subset := reflect.New(field.Type().Elem())
		for _, name := range []string{"Method", "URL", "Proto", "ProtoMajor", "ProtoMinor", "Header", "Host", "RemoteAddr", "RequestURI"} {
			subset.Elem().FieldByName(name).Set(reflect.ValueOf(req).Elem().FieldByName(name))
		}
		field.Set(subset)
	}
	return args
}

type golden struct {
	name   string
	method string // the net/rpc header's ServiceMethod ("" = a reply header)
	value  any    // a pointer to the real Mattermost type
}

// The messages the host sends the plugin.
func fromHost() []golden {
	return []golden{
		{"implemented", "Plugin.Implemented", &struct{}{}},
		{"on_activate", "Plugin.OnActivate", &plugin.Z_OnActivateArgs{APIMuxId: 1, DriverMuxId: 2}},
		{"serve_http", "Plugin.ServeHTTP", serveHTTPArgs()},
		{"execute_command", "Plugin.ExecuteCommand", &plugin.Z_ExecuteCommandArgs{
			A: &plugin.Context{RequestId: "r2"},
			B: &model.CommandArgs{UserId: "u1", ChannelId: "c1", Command: "/pushgate status", SiteURL: "https://chat.example.com",
				UserMentions: model.UserMentionMap{"a": "b"}},
		}},
		{"load_configuration_reply", "", &plugin.Z_LoadPluginConfigurationArgsReturns{A: []byte(`{"grpcaddress":"127.0.0.1:50051","usetls":false,"sendtimeoutsec":25}`)}},
		{"register_command_reply_error", "", &plugin.Z_RegisterCommandReturns{A: &plugin.ErrorString{Err: "trigger taken"}}},
		{"register_command_reply_app_error", "", &plugin.Z_RegisterCommandReturns{A: model.NewAppError("RegisterCommand", "id", nil, "detail", 400)}},
		{"has_permission_reply", "", &plugin.Z_HasPermissionToReturns{A: true}},
		{"header_reply", "", &http.Header{"X-Version-Id": {"11.0.0"}, "X-Request-Id": {"abc"}}},
	}
}

func encodeGolden(t *testing.T, g golden) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	var header any = &rpc.Request{ServiceMethod: g.method, Seq: 7}
	if g.method == "" {
		header = &rpc.Response{ServiceMethod: "Plugin.X", Seq: 7}
	}
	if err := enc.Encode(header); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(g.value); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGobFromHost(t *testing.T) {
	dir := filepath.Join("testdata", "gob", hostVersion())
	for _, g := range fromHost() {
		path := filepath.Join(dir, g.name+".gob")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, encodeGolden(t, g), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (write the golden files with `go test -run Gob -update`)", err)
		}
		dec := gob.NewDecoder(bytes.NewReader(data))
		if g.method == "" {
			var h rpc.Response
			if err := dec.Decode(&h); err != nil {
				t.Fatal(err)
			}
		} else {
			var h rpc.Request
			if err := dec.Decode(&h); err != nil || h.ServiceMethod != g.method {
				t.Fatalf("%s: header %+v %v", g.name, h, err)
			}
		}
		got := reflect.New(reflect.TypeOf(g.value).Elem())
		if err := dec.Decode(got.Interface()); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if g.name == "serve_http" {
			continue // *http.Request holds unexported state; its fields are checked in Rust
		}
		if !reflect.DeepEqual(got.Interface(), g.value) {
			t.Fatalf("%s: decoded %+v, want %+v", g.name, got.Interface(), g.value)
		}
	}
}

// decodeRust reads a file the plugin's encoder wrote: a net/rpc header, then one value.
func decodeRust(t *testing.T, name string, header any, value any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "gob", "rust", name+".gob"))
	if err != nil {
		t.Fatal(err)
	}
	dec := gob.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(header); err != nil {
		t.Fatalf("%s header: %v", name, err)
	}
	if err := dec.Decode(value); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		t.Fatalf("%s: bytes after the value", name)
	}
}

func TestGobFromPlugin(t *testing.T) {
	var reply rpc.Response
	var call rpc.Request

	var implemented []string
	decodeRust(t, "implemented_reply", &reply, &implemented)
	if reply.ServiceMethod != "Plugin.Implemented" || reply.Seq != 7 ||
		strings.Join(implemented, ",") != "OnActivate,OnDeactivate,OnConfigurationChange,ServeHTTP,ExecuteCommand" {
		t.Fatalf("implemented: %+v %v", reply, implemented)
	}

	var ok plugin.Z_OnActivateReturns
	decodeRust(t, "on_activate_reply", &reply, &ok)
	if ok.A != nil {
		t.Fatalf("on_activate success carries %v", ok.A)
	}
	var failed plugin.Z_OnActivateReturns
	decodeRust(t, "on_activate_reply_error", &reply, &failed)
	if failed.A == nil || failed.A.Error() != "bad config" {
		t.Fatalf("on_activate error: %v", failed.A)
	}

	var errorReply struct{}
	decodeRust(t, "error_reply", &reply, &errorReply)
	if reply.Error != "rpc: can't find method Plugin.Nope" {
		t.Fatalf("error reply header: %+v", reply)
	}

	var cmd plugin.Z_ExecuteCommandReturns
	decodeRust(t, "execute_command_reply", &reply, &cmd)
	if cmd.A == nil || cmd.A.ResponseType != "ephemeral" || cmd.A.Text != "Only a system admin can use /pushgate." || cmd.B != nil {
		t.Fatalf("execute_command: %+v %+v", cmd.A, cmd.B)
	}

	var register plugin.Z_RegisterCommandArgs
	decodeRust(t, "register_command", &call, &register)
	if call.ServiceMethod != "Plugin.RegisterCommand" || register.A == nil || register.A.Trigger != "pushgate" ||
		!register.A.AutoComplete || register.A.AutoCompleteHint != "status" || register.A.DisplayName != "pushgate" {
		t.Fatalf("register_command: %+v %+v", call, register.A)
	}

	var logArgs plugin.Z_LogInfoArgs
	decodeRust(t, "log_info", &call, &logArgs)
	if call.ServiceMethod != "Plugin.LogInfo" || logArgs.A != "pushgate plugin activated" ||
		!reflect.DeepEqual(logArgs.B, []any{"grpc_address", "127.0.0.1:50051"}) {
		t.Fatalf("log_info: %+v %+v", call, logArgs)
	}

	var load plugin.Z_LoadPluginConfigurationArgsArgs
	decodeRust(t, "load_configuration", &call, &load)
	if call.ServiceMethod != "Plugin.LoadPluginConfiguration" {
		t.Fatalf("load_configuration: %+v", call)
	}

	var perm plugin.Z_HasPermissionToArgs
	decodeRust(t, "has_permission", &call, &perm)
	if perm.A != "u1" || perm.B == nil || perm.B.Id != model.PermissionManageSystem.Id {
		t.Fatalf("has_permission: %+v", perm)
	}

	var header http.Header
	decodeRust(t, "sync_header", &call, &header)
	if call.ServiceMethod != "Plugin.SyncHeader" || !reflect.DeepEqual(header, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}) {
		t.Fatalf("sync_header: %+v", header)
	}
	var status int
	decodeRust(t, "write_header", &call, &status)
	if call.ServiceMethod != "Plugin.WriteHeader" || status != 200 {
		t.Fatalf("write_header: %d", status)
	}
	var body []byte
	decodeRust(t, "write", &call, &body)
	if call.ServiceMethod != "Plugin.Write" || string(body) != "{\"status\":\"OK\"}\n" {
		t.Fatalf("write: %q", body)
	}
}
