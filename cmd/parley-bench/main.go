// Command parley-bench loads a running Parley server on a loopback address and
// reports connections held, server memory per connection, publish latency and
// throughput, and end-to-end delivery latency. See docs/PERFORMANCE.md.
//
//	parley-bench -scenario idle|fanout|rooms|throughput [-url http://127.0.0.1:8080] [-nodes URL,URL] [flags]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"parley/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "idle | fanout | rooms | throughput (required)")
	url := fs.String("url", "http://127.0.0.1:8080", "server base URL; must be on a loopback address")
	nodes := fs.String("nodes", "", "more nodes of the same cluster (comma-separated base URLs, loopback): streams and posters are spread over -url and these")
	metricsURL := fs.String("metrics-url", "http://127.0.0.1:9181", "base URL of the server's metrics listener (metrics_listen), for heap and goroutine figures; loopback only")
	duration := fs.Duration("duration", 0, "measured window (default per scenario: 60s, throughput 30s)")
	setup := fs.Duration("setup-timeout", 0, "bound on provisioning + opening streams (default 5m)")
	settle := fs.Duration("settle", 0, "pause after opening streams, before measuring (default 2s)")
	drain := fs.Duration("drain", 0, "how long to wait for in-flight deliveries after posting stops (default 10s)")
	conns := fs.Int("conns", 0, "idle: streams to open (default 50000)")
	rooms := fs.Int("rooms", 0, "rooms (default fanout 1, rooms 1000, throughput 32)")
	subs := fs.Int("subs-per-room", 0, "subscriber streams per room (default fanout 10000, rooms 10)")
	perUser := fs.Int("streams-per-user", 0, "streams sharing one user (default idle/fanout 50, rooms 1)")
	rate := fs.Float64("rate", -1, "total posts per second over all posters, 0 = as fast as they go (default fanout 1, rooms 1000, throughput 0)")
	posters := fs.Int("posters", -1, "concurrent posting users (default fanout 1, rooms 16, throughput 32)")
	maxMsgs := fs.Int64("max-messages", 0, "hard cap on posts in one run (default 5000000)")
	pid := fs.Int("pid", 0, "server pid for /proc memory and CPU figures (default: the process listening on the URL's port)")
	srcAddrs := fs.Int("source-addrs", 0, "spread stream sockets over 127.0.0.2 .. 127.0.0.(1+N) (default 19)")
	dialConc := fs.Int("dial-concurrency", 0, "streams being opened at once (default 128)")
	workers := fs.Int("workers", 0, "concurrent provisioning requests (default 32)")
	endpoint := fs.String("endpoint", "", "room scenarios: subscribe with room (/rooms/{id}/events, default) or user (/events)")
	noClientIDs := fs.Bool("no-client-ids", false, "post without client_id (the server then skips its duplicate lookup)")
	batch := fs.Int("batch", 0, "post this many messages per request through /messages/batch (2..100; default one per request)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: parley-bench -scenario idle|fanout|rooms|throughput [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if *scenario == "" {
		fs.Usage()
		return 2
	}
	cfg, err := bench.Defaults(*scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.URL = *url
	for _, n := range strings.Split(*nodes, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.Nodes = append(cfg.Nodes, n)
		}
	}
	cfg.MetricsURL = *metricsURL
	if set["duration"] {
		cfg.Duration = *duration
	}
	if set["setup-timeout"] {
		cfg.SetupTimeout = *setup
	}
	if set["settle"] {
		cfg.Settle = *settle
	}
	if set["drain"] {
		cfg.Drain = *drain
	}
	if set["conns"] {
		cfg.Conns = *conns
	}
	if set["rooms"] {
		cfg.Rooms = *rooms
	}
	if set["subs-per-room"] {
		cfg.SubsPerRoom = *subs
	}
	if set["streams-per-user"] {
		cfg.StreamsPerUser = *perUser
	}
	if set["rate"] {
		cfg.Rate = *rate
	}
	if set["posters"] {
		cfg.Posters = *posters
	}
	if set["max-messages"] {
		cfg.MaxMessages = *maxMsgs
	}
	if set["pid"] {
		cfg.PID = *pid
	}
	if set["source-addrs"] {
		cfg.SourceAddrs = *srcAddrs
	}
	if set["dial-concurrency"] {
		cfg.DialConcurrency = *dialConc
	}
	if set["workers"] {
		cfg.Workers = *workers
	}
	if set["endpoint"] {
		cfg.Endpoint = *endpoint
	}
	cfg.NoClientIDs = *noClientIDs
	cfg.Batch = *batch
	if cfg.Scenario == "idle" && (set["rooms"] || set["subs-per-room"] || set["posters"] || set["rate"]) {
		fmt.Fprintln(os.Stderr, "the idle scenario opens -conns streams and posts nothing; -rooms, -subs-per-room, -posters and -rate do not apply")
		return 2
	}
	if cfg.Scenario != "idle" && set["conns"] {
		fmt.Fprintln(os.Stderr, "-conns is for the idle scenario; use -rooms and -subs-per-room")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Belt and braces: whatever happens inside, the process ends shortly after
	// the run's hard deadline.
	limit := cfg.HardDeadline() + 30*time.Second
	time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "parley-bench: hard deadline of %v passed, exiting\n", limit)
		os.Exit(3)
	})

	res, err := bench.Run(ctx, cfg)
	if res != nil {
		res.Summary(os.Stdout)
		if *jsonOut != "" {
			if werr := res.WriteJSON(*jsonOut); werr != nil {
				fmt.Fprintf(os.Stderr, "write %s: %v\n", *jsonOut, werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "parley-bench: %v\n", err)
		return 1
	}
	return 0
}
