package bench

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   int64
		ok     bool
	}{
		{"kB", "Name:\tparley\nVmPeak:\t  100 kB\nVmRSS:\t   12345 kB\nThreads: 9\n", 12345 * 1024, true},
		{"no unit", "VmRSS: 10\n", 10 * 1024, true},
		{"missing", "Name:\tkthreadd\n", 0, false},
		{"garbage", "VmRSS: lots kB\n", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVmRSS([]byte(tc.status))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %d, %v; want %d ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want int64
		ok   bool
	}{
		{"plain", "1234 (parley) S 1 1234 1234 0 -1 4194560 500 0 0 0 150 25 0 0 20 0 9 0 100 0 0", 175, true},
		{"comm with spaces and parens", "77 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 3 4 0 0", 7, true},
		{"short", "1 (x) S 1", 0, false},
		{"no paren", "1 x S", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatCPU([]byte(tc.stat))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %d, %v; want %d ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseListenInodes(t *testing.T) {
	tcp := strings.Join([]string{
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0",
		"   1: 0100007F:1F90 0200007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1",
		"   2: 00000000:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0",
	}, "\n")
	tcp6 := "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 100 0 0 10 0\n"
	tests := []struct {
		name string
		text string
		port int
		want []uint64
	}{
		{"listener on 8080, connected socket ignored", tcp, 8080, []uint64{111}},
		{"other port", tcp, 18080, []uint64{333}},
		{"none", tcp, 9999, nil},
		{"tcp6", tcp6, 8080, []uint64{444}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseListenInodes([]byte(tc.text), tc.port); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	if v, err := ReadRSS(os.Getpid()); err != nil || v <= 0 {
		t.Errorf("ReadRSS(self) = %d, %v", v, err)
	}
	if _, err := ReadCPUSeconds(os.Getpid()); err != nil {
		t.Errorf("ReadCPUSeconds(self): %v", err)
	}
	if soft, hard, err := NoFileLimit(os.Getpid()); err != nil || soft == "" || hard == "" {
		t.Errorf("NoFileLimit(self) = %q %q %v", soft, hard, err)
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 1234\ngo_memstats_heap_inuse_bytes 5.5e+06\nhttp_requests_total{code=\"200\"} 9\nother 1\n"
	got := ParseMetrics(strings.NewReader(text), "go_goroutines", "go_memstats_heap_inuse_bytes", "missing")
	want := map[string]float64{"go_goroutines": 1234, "go_memstats_heap_inuse_bytes": 5.5e6}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMicrosPer(t *testing.T) {
	tests := []struct {
		cpu  float64
		n    int64
		want float64
	}{
		{1.5, 30_000, 50},
		{0.25, 1, 250_000},
		{3, 0, 0},
		{0, 10, 0},
	}
	for _, tc := range tests {
		if got := MicrosPer(tc.cpu, tc.n); got != tc.want {
			t.Errorf("MicrosPer(%v, %d) = %v, want %v", tc.cpu, tc.n, got, tc.want)
		}
	}
}

func TestSummaryShowsCPUPerPost(t *testing.T) {
	res := &Result{Scenario: "throughput"}
	res.CPU.ServerMicrosPerPost, res.CPU.BenchMicrosPerPost = 123.4, 56.7
	res.Machine.LoadBefore, res.Machine.LoadAfter = "1.00 0.50 0.25", "2.00 1.00 0.50"
	var sb strings.Builder
	res.Summary(&sb)
	for _, want := range []string{"123.4 µs server CPU per accepted post, bench 56.7 µs", "1.00 0.50 0.25 before the window, 2.00 1.00 0.50 after"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sb.String())
		}
	}
}
