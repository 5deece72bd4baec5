// The plugin's cost, measured (a benchmark, not a test): pushes through the plugin's ServeHTTP
// as Mattermost's host code calls it, against the same pushes through the standalone
// pushgate-bridge over HTTP, both to one pushgate. bench/plugin sets it up and runs it:
//
//	bench/plugin [PUSHES] [CONCURRENCY]
//
// Each sub-benchmark sends b.N pushes from CONCURRENCY goroutines and reports pushes/s and the
// p50/p99 latency of one push.
package harness

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func benchPushes(b *testing.B, concurrency int, one func(body []byte) bool) {
	latencies := make([]time.Duration, b.N)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	started := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				body := devicePush(fmt.Sprintf("0d%06x", i))
				t0 := time.Now()
				if !one(body) {
					failed.Add(1)
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(started)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d pushes not OK", n, b.N)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "pushes/s")
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func BenchmarkPluginVsBridge(b *testing.B) {
	need := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			b.Fatalf("%s is not set: run bench/plugin", name)
		}
		return v
	}
	s := setup{plugin: need("PUSHGATE_PLUGIN_BIN"), grpc: need("PUSHGATE_GRPC_ADDR")}
	bridge := need("PUSHGATE_BRIDGE_URL")
	concurrency, _ := strconv.Atoi(os.Getenv("PUSHGATE_BENCH_CONCURRENCY"))
	if concurrency <= 0 {
		concurrency = 16
	}
	ok := []byte("{\"status\":\"OK\"}\n")

	dir, exe := install(b, s.plugin)
	h := activate(b, s, dir, exe, nil)

	b.Run("plugin", func(b *testing.B) {
		// Where the CPU goes: the plugin process, and this one (the host's side, and the load).
		pluginBefore, hostBefore := cpuOf(h.pid(b)), cpuOfSelf()
		benchPushes(b, concurrency, func(body []byte) bool {
			rec := h.push(b, "/api/v1/send_push", body)
			return rec.Code == 200 && bytes.Equal(rec.Body.Bytes(), ok)
		})
		b.ReportMetric(float64((cpuOf(h.pid(b))-pluginBefore).Microseconds())/float64(b.N), "plugin-cpu-µs/push")
		b.ReportMetric(float64((cpuOfSelf()-hostBefore).Microseconds())/float64(b.N), "host-cpu-µs/push")
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	b.Run("bridge", func(b *testing.B) {
		bridgePid, _ := strconv.Atoi(os.Getenv("PUSHGATE_BRIDGE_PID"))
		bridgeBefore, clientBefore := cpuOf(bridgePid), cpuOfSelf()
		defer func() {
			b.ReportMetric(float64((cpuOf(bridgePid)-bridgeBefore).Microseconds())/float64(b.N), "bridge-cpu-µs/push")
			b.ReportMetric(float64((cpuOfSelf()-clientBefore).Microseconds())/float64(b.N), "client-cpu-µs/push")
		}()
		benchPushes(b, concurrency, func(body []byte) bool {
			resp, err := client.Post(bridge+"/api/v1/send_push", "application/json", bytes.NewReader(body))
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var got bytes.Buffer
			_, _ = got.ReadFrom(resp.Body)
			return resp.StatusCode == 200 && bytes.Equal(got.Bytes(), ok)
		})
	})
}

// cpuOf is the CPU time (user + system) process pid has used, from /proc.
func cpuOf(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which sits in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func cpuOfSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
