// Command events follows the local emulator's event buses: every event put
// on a bus, as it is put, with the rules it matched (GET /@events on the
// emulator's port). It is what `make events` runs beside `make dev`:
//
//	go run ./tools/events                 # emulator on port 3001
//	go run ./tools/events -port 4000 -json
//	go run ./tools/events -type message.  # only detail-types starting so
//
// It reconnects when the emulator restarts, until interrupted. Local
// development only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	url       string
	raw       bool
	prefix    string
	reconnect bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 3001, "port of the running emulator on 127.0.0.1 (make dev PORT=...)")
	raw := fs.Bool("json", false, "print each event as one JSON line ({bus, rules, event}) instead of a summary")
	prefix := fs.String("type", "", "print only events whose detail-type starts with this")
	once := fs.Bool("once", false, "exit when the emulator goes away instead of waiting for it to come back")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port < 1 || *port > 65535 {
		fmt.Fprintf(stderr, "events: -port %d out of range\n", *port)
		return 2
	}
	opts := options{url: "http://127.0.0.1:" + strconv.Itoa(*port) + "/@events", raw: *raw, prefix: *prefix, reconnect: !*once}
	return follow(ctx, opts, stdout, stderr)
}

// follow prints the emulator's events until ctx ends (or, with -once, the
// stream ends).
func follow(ctx context.Context, o options, stdout, stderr io.Writer) int {
	waiting := false
	for ctx.Err() == nil {
		err := stream(ctx, o, stdout, func() {
			waiting = false
			fmt.Fprintf(stderr, "following %s (Ctrl-C stops)\n", o.url)
		})
		if ctx.Err() != nil {
			return 0
		}
		if !o.reconnect {
			fmt.Fprintf(stderr, "events: %v\n", err)
			return 1
		}
		if !waiting {
			fmt.Fprintf(stderr, "events: %v; waiting for the emulator (make dev PORT=...)\n", err)
			waiting = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return 0
}

type line struct {
	Bus   string          `json:"bus"`
	Rules []string        `json:"rules"`
	Event json.RawMessage `json:"event"`
}

func stream(ctx context.Context, o options, stdout io.Writer, connected func()) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s (an emulator without event buses, or an older one?)", o.url, resp.Status)
	}
	connected()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		var ev struct {
			DetailType string          `json:"detail-type"`
			Source     string          `json:"source"`
			Time       string          `json:"time"`
			Detail     json.RawMessage `json:"detail"`
		}
		_ = json.Unmarshal(l.Event, &ev)
		if !strings.HasPrefix(ev.DetailType, o.prefix) {
			continue
		}
		if o.raw {
			fmt.Fprintln(stdout, sc.Text())
			continue
		}
		rules := "no rule"
		if len(l.Rules) > 0 {
			rules = "→ " + strings.Join(l.Rules, ", ")
		}
		fmt.Fprintf(stdout, "%s  %-10s %-22s %s  %s\n", time.Now().Format("15:04:05.000"), l.Bus, ev.DetailType, rules, ev.Detail)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}
