package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenarios the tool knows.
var Scenarios = []string{"idle", "fanout", "rooms", "throughput"}

// Hard bounds: no run goes past these, whatever the flags say.
const (
	MaxConns       = 200_000
	MaxMessagesCap = 20_000_000
	MaxDuration    = 30 * time.Minute
	MaxSetup       = 30 * time.Minute
)

// Config is one run's parameters.
type Config struct {
	Scenario string `json:"scenario"`
	URL      string `json:"url"`
	// Nodes are more servers of one cluster (base URLs, loopback): streams
	// and posters are spread over URL and these, round robin. Provisioning,
	// memory and CPU figures use URL's node only.
	Nodes           []string      `json:"nodes,omitempty"`
	MetricsURL      string        `json:"metrics_url"` // the server's metrics listener (metrics_listen)
	Duration        time.Duration `json:"-"`
	SetupTimeout    time.Duration `json:"-"`
	Settle          time.Duration `json:"-"`
	Drain           time.Duration `json:"-"`
	Conns           int           `json:"conns"`
	Rooms           int           `json:"rooms"`
	SubsPerRoom     int           `json:"subs_per_room"`
	StreamsPerUser  int           `json:"streams_per_user"`
	Rate            float64       `json:"rate"`
	Posters         int           `json:"posters"`
	MaxMessages     int64         `json:"max_messages"`
	PID             int           `json:"pid"`
	SourceAddrs     int           `json:"source_addrs"`
	DialConcurrency int           `json:"dial_concurrency"`
	Workers         int           `json:"workers"`
	Endpoint        string        `json:"endpoint"`
	NoClientIDs     bool          `json:"no_client_ids"`   // post without client_id (no dedup lookup)
	Batch           int           `json:"batch,omitempty"` // >1: each request posts this many messages (messages/batch)
	// Seconds mirrors of the durations, for JSON.
	DurationS float64   `json:"duration_s"`
	SetupS    float64   `json:"setup_timeout_s"`
	Log       io.Writer `json:"-"`
}

// Defaults returns the configuration that runs scenario with no other flag.
func Defaults(scenario string) (Config, error) {
	c := Config{
		Scenario:        scenario,
		URL:             "http://127.0.0.1:8080",
		MetricsURL:      "http://127.0.0.1:9181",
		Duration:        60 * time.Second,
		SetupTimeout:    5 * time.Minute,
		Settle:          2 * time.Second,
		Drain:           10 * time.Second,
		MaxMessages:     5_000_000,
		SourceAddrs:     19,
		DialConcurrency: 128,
		Workers:         32,
		Endpoint:        "room",
		StreamsPerUser:  1,
	}
	switch scenario {
	case "idle":
		c.Conns, c.StreamsPerUser = 50_000, 50
	case "fanout":
		c.Rooms, c.SubsPerRoom, c.StreamsPerUser, c.Rate, c.Posters = 1, 10_000, 50, 1, 1
	case "rooms":
		c.Rooms, c.SubsPerRoom, c.StreamsPerUser, c.Rate, c.Posters = 1000, 10, 1, 1000, 16
	case "throughput":
		c.Rooms, c.Posters, c.Rate, c.Duration = 32, 32, 0, 30*time.Second
	default:
		return c, fmt.Errorf("unknown scenario %q (want one of %s)", scenario, strings.Join(Scenarios, ", "))
	}
	return c, nil
}

// Validate checks the bounds.
func (c *Config) Validate() error {
	switch {
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("-duration must be in (0, %v]", MaxDuration)
	case c.SetupTimeout <= 0 || c.SetupTimeout > MaxSetup:
		return fmt.Errorf("-setup-timeout must be in (0, %v]", MaxSetup)
	case c.Conns < 0 || c.Conns > MaxConns:
		return fmt.Errorf("-conns must be in [0, %d]", MaxConns)
	case c.Rooms < 0 || c.SubsPerRoom < 0 || c.Rooms*c.SubsPerRoom > MaxConns:
		return fmt.Errorf("-rooms × -subs-per-room must be at most %d", MaxConns)
	case c.Rooms > 100_000:
		return fmt.Errorf("-rooms must be at most 100000")
	case c.MaxMessages <= 0 || c.MaxMessages > MaxMessagesCap:
		return fmt.Errorf("-max-messages must be in [1, %d]", MaxMessagesCap)
	case c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return fmt.Errorf("-rate must be >= 0 (0 = as fast as the posters go)")
	case c.Posters < 0 || c.Posters > 1000:
		return fmt.Errorf("-posters must be in [0, 1000]")
	case c.Posters > 0 && c.Rooms == 0:
		return fmt.Errorf("posting needs at least one room")
	case c.StreamsPerUser < 1:
		return fmt.Errorf("-streams-per-user must be >= 1")
	case c.Endpoint != "room" && c.Endpoint != "user":
		return fmt.Errorf("-endpoint must be room or user")
	case c.Batch < 0 || c.Batch > 100:
		return fmt.Errorf("-batch must be in [0, 100]")
	case c.DialConcurrency < 1 || c.Workers < 1:
		return fmt.Errorf("-dial-concurrency and -workers must be >= 1")
	}
	return nil
}

// HardDeadline is the longest a run with c may take before it must have stopped.
func (c *Config) HardDeadline() time.Duration {
	return c.SetupTimeout + c.Settle + c.Duration + c.Drain + 2*time.Minute
}

// Check is one target of the issue, met or not.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Result is what a run measured.
type Result struct {
	Scenario  string    `json:"scenario"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Machine   struct {
		CPUs     int    `json:"cpus"`
		MemTotal string `json:"mem_total"`
		Kernel   string `json:"kernel"`
		// The 1, 5 and 15 minute load averages before and after the window:
		// on a shared machine they say how busy the cores were meanwhile.
		LoadBefore string `json:"load_before,omitempty"`
		LoadAfter  string `json:"load_after,omitempty"`
	} `json:"machine"`
	Config    Config `json:"config"`
	ServerPID int    `json:"server_pid"`
	Provision *World `json:"provision"`

	Connections struct {
		Attempted    int64          `json:"attempted"`
		Established  int64          `json:"established"`
		Failed       int64          `json:"failed"`
		HeldAtEnd    int64          `json:"held_at_end"`
		Dropped      int64          `json:"dropped"`
		FailReasons  map[string]int `json:"fail_reasons,omitempty"`
		DropReasons  map[string]int `json:"drop_reasons,omitempty"`
		OpenSeconds  float64        `json:"open_seconds"`
		OpenPerSec   float64        `json:"open_per_second"`
		ServerNoFile string         `json:"server_nofile,omitempty"`
		ClientNoFile uint64         `json:"client_nofile"`
	} `json:"connections"`

	Memory struct {
		RSSBefore     int64   `json:"rss_before_bytes"`
		RSSAfterOpen  int64   `json:"rss_after_open_bytes"`
		RSSPeak       int64   `json:"rss_peak_bytes"`
		RSSEnd        int64   `json:"rss_end_bytes"`
		PerConnBytes  float64 `json:"per_conn_bytes"`
		HeldAtMeasure int64   `json:"held_at_measure"`
		// From /metrics, when the server exposes Go's collector.
		GoroutinesBefore float64 `json:"goroutines_before,omitempty"`
		GoroutinesAfter  float64 `json:"goroutines_after,omitempty"`
		HeapInuseBefore  float64 `json:"heap_inuse_before,omitempty"`
		HeapInuseAfter   float64 `json:"heap_inuse_after,omitempty"`
		StackInuseBefore float64 `json:"stack_inuse_before,omitempty"`
		StackInuseAfter  float64 `json:"stack_inuse_after,omitempty"`
	} `json:"memory"`

	CPU struct {
		ServerCoresWindow float64 `json:"server_cores_window"`
		BenchCoresWindow  float64 `json:"bench_cores_window"`
		ServerCoresOpen   float64 `json:"server_cores_open"`
		// CPU time (user+system, from /proc/PID/stat) spent per accepted post
		// during the window: comparable between runs on a busy machine, where
		// posts/s depends on what else runs.
		ServerMicrosPerPost float64 `json:"server_us_per_post,omitempty"`
		BenchMicrosPerPost  float64 `json:"bench_us_per_post,omitempty"`
	} `json:"cpu"`

	Publish struct {
		TargetRate   float64        `json:"target_rate"`
		Attempted    int64          `json:"attempted"`
		Accepted     int64          `json:"accepted"`
		Errors       int64          `json:"errors"`
		ErrorReasons map[string]int `json:"error_reasons,omitempty"`
		Late         int64          `json:"late"`
		Seconds      float64        `json:"seconds"`
		PerSecond    float64        `json:"per_second"`
		Latency      LatencySummary `json:"latency"`
	} `json:"publish"`

	Delivery struct {
		Expected    int64          `json:"expected"`
		Received    int64          `json:"received"`
		Missing     int64          `json:"missing"`
		Gaps        int64          `json:"gaps"`
		Dups        int64          `json:"dups"`
		Unparsed    int64          `json:"unparsed"`
		Other       int64          `json:"other_events"`
		BeforeAck   int64          `json:"read_before_201"`
		NoCreatedAt int64          `json:"no_created_at,omitempty"`
		FromCreated LatencySummary `json:"from_created_at"`
		FromSend    LatencySummary `json:"from_send"`
	} `json:"delivery"`

	Persisted struct {
		Checked   bool    `json:"checked"`
		Messages  int64   `json:"messages"`
		PerSecond float64 `json:"per_second"`
	} `json:"persisted"`

	Targets []Check  `json:"targets"`
	Notes   []string `json:"notes,omitempty"`
}

type runner struct {
	cfg  Config
	res  *Result
	api  *API
	apis []*API // api, then one per other node: posters take turns
	mapi *API   // the metrics listener; nil when it is not reachable
	s    *Streamer
	w    *World
	l    Layout
	logf Logf

	msgSeq    atomic.Int64
	attempted atomic.Int64
	accepted  atomic.Int64
	errs      atomic.Int64
	late      atomic.Int64
	perRoom   []atomic.Int64
	pubLat    Histogram
	errMu     sync.Mutex
	errReason map[string]int
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Notes = append(r.res.Notes, msg)
	r.logf("note: %s", msg)
}

// Run executes one scenario against a running server and returns what it
// measured. It stops by itself: setup is bounded by SetupTimeout, the load by
// Duration and MaxMessages, the tail by Drain.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HardDeadline())
	defer cancel()
	cfg.DurationS, cfg.SetupS = cfg.Duration.Seconds(), cfg.SetupTimeout.Seconds()
	logw := cfg.Log
	if logw == nil {
		logw = os.Stderr
	}
	start := time.Now()
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(logw, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	res := &Result{Scenario: cfg.Scenario, StartedAt: start.UTC(), Config: cfg}
	res.Machine.CPUs = runtime.NumCPU()
	res.Machine.MemTotal = memTotal()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		res.Machine.Kernel = strings.TrimSpace(string(b))
	}
	r := &runner{cfg: cfg, res: res, logf: logf, errReason: map[string]int{}}

	t, err := ResolveLoopback(ctx, cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	nofile, err := RaiseNoFile()
	if err != nil {
		r.note("could not raise RLIMIT_NOFILE: %v", err)
	}
	res.Connections.ClientNoFile = nofile
	if want := uint64(cfg.Conns + cfg.Rooms*cfg.SubsPerRoom + 64); nofile > 0 && nofile < want {
		r.note("this process may open only %d files (hard limit; raising it needs CAP_SYS_RESOURCE), fewer than the %d streams asked for", nofile, want-64)
	}
	pid := cfg.PID
	if pid == 0 {
		if p, err := FindListenerPID(int(t.Addr.Port())); err == nil {
			pid = p
		} else {
			r.note("server pid not found (%v): no memory or CPU figures; pass -pid", err)
		}
	}
	res.ServerPID = pid
	if pid > 0 {
		if soft, _, err := NoFileLimit(pid); err == nil {
			res.Connections.ServerNoFile = soft
			if n, err := strconv.Atoi(soft); err == nil && n < cfg.Conns+cfg.Rooms*cfg.SubsPerRoom+100 {
				r.note("the server's open-file limit is %d, below the streams asked for: start it with a higher one (ulimit -n / prlimit --nofile) where the hard limit allows", n)
			}
		}
	}
	logf("scenario %s against %s (dialling %s), server pid %d, client nofile %d", cfg.Scenario, t.Base, t.Addr, pid, nofile)

	r.api = NewAPI(t, max(cfg.Workers, cfg.Posters)*2)
	defer r.api.Close()
	targets := []Target{t}
	r.apis = []*API{r.api}
	for _, u := range cfg.Nodes {
		nt, err := ResolveLoopback(ctx, u, nil)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", u, err)
		}
		api := NewAPI(nt, max(cfg.Posters, 1)*2)
		defer api.Close()
		if _, err := api.Do(ctx, "GET", "/readyz", "", nil, nil); err != nil {
			return nil, fmt.Errorf("node %s not ready: %w", u, err)
		}
		targets, r.apis = append(targets, nt), append(r.apis, api)
	}
	if len(targets) > 1 {
		logf("spreading streams and posters over %d nodes; memory and CPU figures are %s's only", len(targets), t.Base)
	}
	if mt, err := ResolveLoopback(ctx, cfg.MetricsURL, nil); err == nil {
		r.mapi = NewAPI(mt, 2)
		defer r.mapi.Close()
	} else {
		r.note("metrics listener: %v; no goroutine or heap figures", err)
	}
	if _, err := r.api.Do(ctx, "GET", "/healthz", "", nil, nil); err != nil {
		return nil, fmt.Errorf("server not reachable: %w", err)
	}

	// Layout and provisioning.
	switch cfg.Scenario {
	case "idle":
		r.l = IdleLayout(cfg.Conns, cfg.StreamsPerUser)
	default:
		r.l = RoomsLayout(cfg.Rooms, cfg.SubsPerRoom, cfg.StreamsPerUser, cfg.Posters)
	}
	setupCtx, setupCancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer setupCancel()
	logf("provisioning: %d rooms, %d users, %d posters, %d memberships", r.l.Rooms, r.l.Users, r.l.Posters, len(r.l.Members))
	r.w, err = Provision(setupCtx, r.api, r.l, cfg.Workers, logf)
	if err != nil {
		return res, fmt.Errorf("provisioning: %w", err)
	}
	res.Provision = r.w
	logf("provisioned tenant %s with %d requests in %.1fs", r.w.Slug, r.w.Requests, r.w.Seconds)

	r.s = NewStreamer(t, SourceAddrs(t.Addr.Addr(), cfg.SourceAddrs), cfg.MaxMessages)
	r.s.Spread(targets)
	defer r.s.Close()
	r.perRoom = make([]atomic.Int64, r.l.Rooms)

	// Memory before the streams.
	res.Memory.RSSBefore = rss(pid)
	if m := scrapeMetrics(ctx, r.mapi); m != nil {
		res.Memory.GoroutinesBefore = m["go_goroutines"]
		res.Memory.HeapInuseBefore = m["go_memstats_heap_inuse_bytes"]
		res.Memory.StackInuseBefore = m["go_memstats_stack_inuse_bytes"]
	}

	// Open the streams.
	if n := len(r.l.StreamUser); n > 0 {
		cpu0 := cpuSec(pid)
		t0 := time.Now()
		r.openStreams(setupCtx)
		res.Connections.OpenSeconds = time.Since(t0).Seconds()
		res.Connections.OpenPerSec = float64(r.s.Established.Load()) / res.Connections.OpenSeconds
		if pid > 0 {
			res.CPU.ServerCoresOpen = (cpuSec(pid) - cpu0) / res.Connections.OpenSeconds
		}
		logf("streams: %d established, %d failed in %.1fs (%.0f/s)", r.s.Established.Load(), r.s.Failed.Load(),
			res.Connections.OpenSeconds, res.Connections.OpenPerSec)
	}
	setupCancel()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	sleepCtx(ctx, cfg.Settle)
	res.Memory.RSSAfterOpen = rss(pid)
	res.Memory.HeldAtMeasure = r.s.Held.Load()
	if m := scrapeMetrics(ctx, r.mapi); m != nil {
		res.Memory.GoroutinesAfter = m["go_goroutines"]
		res.Memory.HeapInuseAfter = m["go_memstats_heap_inuse_bytes"]
		res.Memory.StackInuseAfter = m["go_memstats_stack_inuse_bytes"]
	}
	if h := res.Memory.HeldAtMeasure; h > 0 && res.Memory.RSSBefore > 0 {
		res.Memory.PerConnBytes = float64(res.Memory.RSSAfterOpen-res.Memory.RSSBefore) / float64(h)
	}
	res.Memory.RSSPeak = res.Memory.RSSAfterOpen

	// The measured window.
	r.window(ctx)

	// Tail: let in-flight deliveries arrive.
	if r.l.Rooms > 0 && len(r.l.StreamUser) > 0 {
		deadline := time.Now().Add(cfg.Drain)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if _, missing, _ := r.s.Missing(r.acceptedPerRoom()); missing == 0 {
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	res.Memory.RSSEnd = rss(pid)
	r.collect()
	if cfg.Posters > 0 {
		r.verifyPersisted(ctx)
	}
	r.s.Close()
	res.Seconds = time.Since(start).Seconds()
	r.checkTargets()
	return res, nil
}

func (r *runner) acceptedPerRoom() []int64 {
	out := make([]int64, len(r.perRoom))
	for i := range r.perRoom {
		out[i] = r.perRoom[i].Load()
	}
	return out
}

func (r *runner) openStreams(ctx context.Context) {
	n := len(r.l.StreamUser)
	var next atomic.Int64
	var streak atomic.Int64 // consecutive failures
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(2 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				fails, _ := r.s.Reasons()
				r.logf("  streams: %d/%d established, %d failed %s", r.s.Established.Load(), n, r.s.Failed.Load(), sortedReasons(fails))
			}
		}
	}()
	for w := 0; w < min(r.cfg.DialConcurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if streak.Load() >= 2000 {
					return // the server stopped taking streams; report what held
				}
				room := r.l.StreamRoom[i]
				path := "/api/v1/events"
				if room >= 0 && r.cfg.Endpoint == "room" {
					path = "/api/v1/rooms/" + r.w.RoomIDs[room] + "/events"
				}
				if err := r.s.Open(ctx, i, path, r.w.UserTokens[r.l.StreamUser[i]], room); err != nil {
					streak.Add(1)
				} else {
					streak.Store(0)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if streak.Load() >= 2000 {
		r.note("stopped opening streams after 2000 consecutive failures")
	}
	if ctx.Err() != nil && int(next.Load()) < n {
		r.note("setup timeout reached while opening streams (%d of %d tried)", next.Load(), n)
	}
}

// window runs the posters (if any) for Duration while sampling memory.
func (r *runner) window(ctx context.Context) {
	cfg := r.cfg
	pid := r.res.ServerPID
	r.res.Machine.LoadBefore = loadAvg()
	cpuS0, cpuB0 := cpuSec(pid), selfCPU()
	t0 := time.Now()
	end := t0.Add(cfg.Duration)
	wctx, cancel := context.WithDeadline(ctx, end.Add(5*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for p := 0; p < cfg.Posters; p++ {
		wg.Add(1)
		go func(p int) { defer wg.Done(); r.poster(wctx, p, t0, end) }(p)
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	var postersDone <-chan struct{}
	if cfg.Posters > 0 {
		postersDone = allDone
	}
	r.logf("window: %v, %d posters at %s", cfg.Duration, cfg.Posters, rateText(cfg.Rate))
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	lastLog := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-postersDone:
			break loop
		case now := <-tk.C:
			if v := rss(pid); v > r.res.Memory.RSSPeak {
				r.res.Memory.RSSPeak = v
			}
			if now.Sub(lastLog) >= 5*time.Second {
				lastLog = now
				r.logf("  held %d, dropped %d, posted %d (%d errors), delivered %d, delivery p99 %.1f ms, server rss %s",
					r.s.Held.Load(), r.s.Dropped.Load(), r.accepted.Load(), r.errs.Load(), r.s.Received.Load(),
					float64(r.s.FromCreated.Quantile(0.99))/1e6, mib(rss(pid)))
			}
			if !now.Before(end) && cfg.Posters == 0 {
				break loop
			}
		}
	}
	cancel()
	<-allDone
	el := time.Since(t0).Seconds()
	// Open loop: the rate is over the whole window; closed loop: over the time
	// the posters actually ran.
	r.res.Publish.Seconds = el
	if cfg.Rate > 0 {
		r.res.Publish.Seconds = cfg.Duration.Seconds()
	}
	serverCPU, benchCPU := cpuSec(pid)-cpuS0, selfCPU()-cpuB0
	r.res.Machine.LoadAfter = loadAvg()
	accepted := r.accepted.Load()
	if pid > 0 {
		r.res.CPU.ServerCoresWindow = serverCPU / el
		r.res.CPU.ServerMicrosPerPost = MicrosPer(serverCPU, accepted)
	}
	r.res.CPU.BenchCoresWindow = benchCPU / el
	r.res.CPU.BenchMicrosPerPost = MicrosPer(benchCPU, accepted)
}

// MicrosPer is seconds of CPU spread over n posts, in microseconds (0 without posts).
func MicrosPer(cpuSeconds float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return cpuSeconds * 1e6 / float64(n)
}

func rateText(rate float64) string {
	if rate == 0 {
		return "max rate"
	}
	return fmt.Sprintf("%g msg/s", rate)
}

func (r *runner) poster(ctx context.Context, p int, t0, end time.Time) {
	cfg := r.cfg
	rooms := r.l.PosterRooms[p]
	if len(rooms) == 0 {
		return
	}
	tok := r.w.PosterTokens[p]
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Posters) / cfg.Rate)
	}
	next := t0
	if interval > 0 {
		next = t0.Add(interval * time.Duration(p) / time.Duration(cfg.Posters))
	}
	for j := 0; ; j++ {
		if interval > 0 {
			if !next.Before(end) {
				return
			}
			if d := time.Until(next); d > 0 {
				if !sleepCtx(ctx, d) {
					return
				}
			}
		} else if !time.Now().Before(end) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		n := int64(max(cfg.Batch, 1))
		k := r.msgSeq.Add(n) - n + 1 // this request posts k .. k+n-1
		if k+n-1 > cfg.MaxMessages {
			return
		}
		room := rooms[j%len(rooms)]
		sent := time.Now()
		path, body := r.postBody(room, k, n, sent)
		r.attempted.Add(n)
		st, err := r.apis[p%len(r.apis)].Do(ctx, "POST", path, tok, body, nil)
		done := time.Now()
		if err == nil && st == 201 {
			for i := range n {
				r.s.MarkAccepted(k+i, done)
			}
			r.pubLat.RecordDuration(done.Sub(sent))
			r.accepted.Add(n)
			r.perRoom[room].Add(n)
		} else if ctx.Err() == nil {
			r.errs.Add(n)
			reason := fmt.Sprintf("status %d", st)
			var ae *APIError
			if errors.As(err, &ae) {
				reason = fmt.Sprintf("%d %s", ae.Status, ae.Code)
				if ae.Status == 429 {
					sleepCtx(ctx, min(max(ae.RetryAfter, 50*time.Millisecond), time.Second))
				}
			} else if err != nil {
				reason = classify(err)
			}
			r.errMu.Lock()
			if len(r.errReason) == 0 && err != nil {
				r.logf("first publish error: %v", err)
			}
			r.errReason[reason]++
			r.errMu.Unlock()
		}
		if interval > 0 {
			next = next.Add(interval)
			if now := time.Now(); now.Sub(next) > time.Second {
				// More than a second behind: do not burst to catch up.
				skipped := int64(now.Sub(next) / interval)
				r.late.Add(skipped)
				next = next.Add(time.Duration(skipped) * interval)
			}
		}
	}
}

// postBody is the request that posts messages k .. k+n-1 to room: one
// message, or a batch of n.
func (r *runner) postBody(room int, k, n int64, sent time.Time) (path string, body any) {
	msg := func(k int64) map[string]string {
		m := map[string]string{"body": "bench k=" + strconv.FormatInt(k, 10) + " t=" + strconv.FormatInt(sent.UnixNano(), 10)}
		if !r.cfg.NoClientIDs {
			m["client_id"] = "bench-" + strconv.FormatInt(k, 10)
		}
		return m
	}
	path = "/api/v1/rooms/" + r.w.RoomIDs[room] + "/messages"
	if r.cfg.Batch <= 1 {
		return path, msg(k)
	}
	items := make([]map[string]string, n)
	for i := range items {
		items[i] = msg(k + int64(i))
	}
	return path + "/batch", map[string]any{"messages": items}
}

func (r *runner) collect() {
	res := r.res
	s := r.s
	fails, drops := s.Reasons()
	res.Connections.Attempted = s.Attempted.Load()
	res.Connections.Established = s.Established.Load()
	res.Connections.Failed = s.Failed.Load()
	res.Connections.HeldAtEnd = s.Held.Load()
	res.Connections.Dropped = s.Dropped.Load()
	res.Connections.FailReasons = fails
	res.Connections.DropReasons = drops

	res.Publish.TargetRate = r.cfg.Rate
	res.Publish.Attempted = r.attempted.Load()
	res.Publish.Accepted = r.accepted.Load()
	res.Publish.Errors = r.errs.Load()
	res.Publish.Late = r.late.Load()
	r.errMu.Lock()
	if len(r.errReason) > 0 {
		res.Publish.ErrorReasons = map[string]int{}
		for k, v := range r.errReason {
			res.Publish.ErrorReasons[k] = v
		}
	}
	r.errMu.Unlock()
	if res.Publish.Seconds > 0 {
		res.Publish.PerSecond = float64(res.Publish.Accepted) / res.Publish.Seconds
	}
	res.Publish.Latency = r.pubLat.Summary()

	res.Delivery.Expected, res.Delivery.Missing, _ = s.Missing(r.acceptedPerRoom())
	res.Delivery.Received = s.Received.Load()
	res.Delivery.Gaps = s.Gaps.Load()
	res.Delivery.Dups = s.Dups.Load()
	res.Delivery.Unparsed = s.Unparsed.Load()
	res.Delivery.Other = s.Other.Load()
	res.Delivery.BeforeAck = s.BeforeAck.Load()
	res.Delivery.NoCreatedAt = s.NoCreatedAt.Load()
	res.Delivery.FromCreated = s.FromCreated.Summary()
	res.Delivery.FromSend = s.FromSend.Summary()
}

// verifyPersisted reads every room's last_seq back: rooms are fresh, so their
// sum is the number of messages the server committed.
func (r *runner) verifyPersisted(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The tenant's API key (rooms:write) sees every room of the tenant; a key
	// may not mint tokens for the tenant's admin.
	tok := r.w.Key
	seqs := make([]int64, len(r.w.RoomIDs))
	err := pool(ctx, "verify", len(r.w.RoomIDs), r.cfg.Workers, func(string, ...any) {}, func(ctx context.Context, i int) error {
		var room Room
		if _, err := r.api.DoRetry(ctx, 3, "GET", "/api/v1/rooms/"+r.w.RoomIDs[i], tok, nil, &room); err != nil {
			return err
		}
		seqs[i] = room.LastSeq
		return nil
	})
	if err != nil {
		r.note("persisted check failed: %v", err)
		return
	}
	var sum int64
	for _, v := range seqs {
		sum += v
	}
	r.res.Persisted.Checked = true
	r.res.Persisted.Messages = sum
	if r.res.Publish.Seconds > 0 {
		r.res.Persisted.PerSecond = float64(sum) / r.res.Publish.Seconds
	}
	if sum < r.res.Publish.Accepted {
		r.note("rooms' last_seq add up to %d but %d posts were accepted", sum, r.res.Publish.Accepted)
	}
}

func (r *runner) checkTargets() {
	res := r.res
	add := func(name, want, got string, met bool) {
		res.Targets = append(res.Targets, Check{name, want, got, met})
	}
	switch r.cfg.Scenario {
	case "idle":
		add("concurrent idle streams", ">= 50000", strconv.FormatInt(res.Memory.HeldAtMeasure, 10), res.Memory.HeldAtMeasure >= 50000 && res.Connections.HeldAtEnd >= 50000)
		add("server memory per stream", "<= 20 KiB", fmt.Sprintf("%.1f KiB", res.Memory.PerConnBytes/1024),
			res.Memory.PerConnBytes > 0 && res.Memory.PerConnBytes <= 20*1024)
	case "fanout":
		add("subscribers held", ">= 10000", strconv.FormatInt(res.Connections.HeldAtEnd, 10), res.Connections.HeldAtEnd >= 10000)
		p99 := res.Delivery.FromCreated.P99Ms
		add("delivery p99 (created_at → read)", "< 100 ms", fmt.Sprintf("%.1f ms", p99), res.Delivery.FromCreated.Count > 0 && p99 < 100)
		add("deliveries missing", "0", strconv.FormatInt(res.Delivery.Missing, 10), res.Delivery.Missing == 0 && res.Delivery.Expected > 0)
	case "throughput":
		v := res.Persisted.PerSecond
		add("persisted messages per second", ">= 5000", fmt.Sprintf("%.0f", v), res.Persisted.Checked && v >= 5000)
	}
}

// Summary writes the short human summary.
func (res *Result) Summary(w io.Writer) {
	c := res.Config
	fmt.Fprintf(w, "parley-bench %s — %s, %d CPUs, %s, server pid %d\n", res.Scenario, res.StartedAt.Format("2006-01-02 15:04 MST"), res.Machine.CPUs, res.Machine.MemTotal, res.ServerPID)
	if res.Provision != nil {
		fmt.Fprintf(w, "  setup       tenant %s: %d requests in %.1fs\n", res.Provision.Slug, res.Provision.Requests, res.Provision.Seconds)
	}
	cn := res.Connections
	if cn.Attempted > 0 {
		fmt.Fprintf(w, "  streams     %d established of %d (%d failed), %d held at end, %d dropped; opened at %.0f/s\n",
			cn.Established, cn.Attempted, cn.Failed, cn.HeldAtEnd, cn.Dropped, cn.OpenPerSec)
		if len(cn.FailReasons) > 0 {
			fmt.Fprintf(w, "              failures: %s\n", sortedReasons(cn.FailReasons))
		}
		if len(cn.DropReasons) > 0 {
			fmt.Fprintf(w, "              drops: %s\n", sortedReasons(cn.DropReasons))
		}
		m := res.Memory
		if m.RSSBefore > 0 {
			fmt.Fprintf(w, "  memory      server RSS %s before, %s with %d streams, peak %s: %.1f KiB per stream\n",
				mib(m.RSSBefore), mib(m.RSSAfterOpen), m.HeldAtMeasure, mib(m.RSSPeak), m.PerConnBytes/1024)
		}
		if m.GoroutinesAfter > 0 && m.HeldAtMeasure > 0 {
			fmt.Fprintf(w, "              per stream: %.2f goroutines, %.1f KiB heap in use, %.1f KiB stack (from /metrics)\n",
				(m.GoroutinesAfter-m.GoroutinesBefore)/float64(m.HeldAtMeasure),
				(m.HeapInuseAfter-m.HeapInuseBefore)/float64(m.HeldAtMeasure)/1024,
				(m.StackInuseAfter-m.StackInuseBefore)/float64(m.HeldAtMeasure)/1024)
		}
	}
	p := res.Publish
	if c.Posters > 0 {
		fmt.Fprintf(w, "  publish     %d accepted of %d in %.1fs = %.0f msg/s (target %s), %d errors, %d late slots\n",
			p.Accepted, p.Attempted, p.Seconds, p.PerSecond, rateText(c.Rate), p.Errors, p.Late)
		if len(p.ErrorReasons) > 0 {
			fmt.Fprintf(w, "              errors: %s\n", sortedReasons(p.ErrorReasons))
		}
		fmt.Fprintf(w, "              latency %s\n", latText(p.Latency))
	}
	d := res.Delivery
	if c.Posters > 0 && cn.Attempted > 0 {
		fmt.Fprintf(w, "  delivery    %d received of %d expected (%d missing, %d gaps, %d dups)\n", d.Received, d.Expected, d.Missing, d.Gaps, d.Dups)
		fmt.Fprintf(w, "              created→read  %s\n", latText(d.FromCreated))
		fmt.Fprintf(w, "              sent→read     %s\n", latText(d.FromSend))
		if d.Received > 0 {
			fmt.Fprintf(w, "              %.0f%% of events were read before their poster had the 201\n", 100*float64(d.BeforeAck)/float64(d.Received))
		}
		if d.NoCreatedAt > 0 {
			fmt.Fprintf(w, "              %d events had no readable created_at\n", d.NoCreatedAt)
		}
	}
	if res.Persisted.Checked {
		fmt.Fprintf(w, "  persisted   %d messages (rooms' last_seq) = %.0f msg/s\n", res.Persisted.Messages, res.Persisted.PerSecond)
	}
	fmt.Fprintf(w, "  cpu         server %.2f cores during the window (%.2f while opening streams), bench %.2f cores\n",
		res.CPU.ServerCoresWindow, res.CPU.ServerCoresOpen, res.CPU.BenchCoresWindow)
	if res.CPU.ServerMicrosPerPost > 0 || res.CPU.BenchMicrosPerPost > 0 {
		fmt.Fprintf(w, "              %.1f µs server CPU per accepted post, bench %.1f µs\n",
			res.CPU.ServerMicrosPerPost, res.CPU.BenchMicrosPerPost)
	}
	if res.Machine.LoadBefore != "" {
		fmt.Fprintf(w, "  load        %s before the window, %s after (1, 5, 15 min)\n", res.Machine.LoadBefore, res.Machine.LoadAfter)
	}
	for _, t := range res.Targets {
		mark := "NOT MET"
		if t.Met {
			mark = "met"
		}
		fmt.Fprintf(w, "  target      %-34s want %-9s got %-12s %s\n", t.Name, t.Want, t.Got, mark)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note        %s\n", n)
	}
}

// WriteJSON writes res as indented JSON to path.
func (res *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func latText(l LatencySummary) string {
	if l.Count == 0 {
		return "(no samples)"
	}
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs, l.Count)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	v, _ := ReadRSS(pid)
	return v
}

func cpuSec(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	v, _ := ReadCPUSeconds(pid)
	return v
}

func selfCPU() float64 {
	v, _ := ReadCPUSeconds(os.Getpid())
	return v
}

// loadAvg returns the machine's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return fmt.Sprintf("%.1f GiB RAM", kb/(1<<20))
			}
		}
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ParseMetrics reads the given metric names (without labels) from Prometheus
// text exposition.
func ParseMetrics(text io.Reader, names ...string) map[string]float64 {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(text)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

func scrapeMetrics(ctx context.Context, api *API) map[string]float64 {
	if api == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := newGet(ctx, api, "/metrics")
	if err != nil {
		return nil
	}
	resp, err := api.hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	m := ParseMetrics(resp.Body, "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes")
	if len(m) == 0 {
		return nil
	}
	return m
}
