// Checks deploy/grafana/pushgate.json against Grafana's dashboard schema, as the Grafana
// Foundation SDK generates it from Grafana's own schema: strict decoding (no unknown or
// mistyped field, panels and Prometheus queries included) and the schema's constraints.
package check

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

func TestDashboardFollowsGrafanasSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile("../pushgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(raw); failed(err) {
		t.Fatalf("pushgate.json does not decode strictly as a Grafana dashboard: %v", err)
	}
	if err := d.Validate(); failed(err) {
		t.Fatalf("pushgate.json breaks the dashboard schema: %v", err)
	}
	// The SDK drops a panel it decoded without error (it mistakes its empty error list for
	// one), so each panel is decoded again here, to check every query is a Prometheus one.
	var whole struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	panels, queries := 0, 0
	for i, rawPanel := range whole.Panels {
		var kind struct{ Type string }
		if err := json.Unmarshal(rawPanel, &kind); err != nil {
			t.Fatal(err)
		}
		if kind.Type == "row" {
			var row dashboard.RowPanel
			if err := row.UnmarshalJSONStrict(rawPanel); failed(err) {
				t.Fatalf("panels[%d] (row): %v", i, err)
			}
			continue
		}
		var p dashboard.Panel
		if err := p.UnmarshalJSONStrict(rawPanel); failed(err) {
			t.Fatalf("panels[%d]: %v", i, err)
		}
		if err := p.Validate(); failed(err) {
			t.Fatalf("panels[%d]: %v", i, err)
		}
		panels++
		if p.Description == nil || *p.Description == "" {
			t.Errorf("panel %q says nothing of what it shows", *p.Title)
		}
		// Its targets, again one by one (the same slip drops them from p.Targets).
		var withTargets struct {
			Targets []json.RawMessage `json:"targets"`
		}
		if err := json.Unmarshal(rawPanel, &withTargets); err != nil {
			t.Fatal(err)
		}
		for j, rawTarget := range withTargets.Targets {
			var q prometheus.Dataquery
			if err := q.UnmarshalJSONStrict(rawTarget); failed(err) {
				t.Fatalf("panel %q, targets[%d] is not a Prometheus query: %v", *p.Title, j, err)
			}
			if q.Expr == "" {
				t.Fatalf("panel %q, targets[%d]: no expr", *p.Title, j)
			}
			queries++
		}
	}
	if panels < 10 || queries < 20 {
		t.Fatalf("only %d panels and %d queries decoded", panels, queries)
	}
}

// The SDK returns its error list as an error even when the list is empty.
func failed(err error) bool {
	if errs, ok := err.(cog.BuildErrors); ok {
		return len(errs) > 0
	}
	return err != nil
}
