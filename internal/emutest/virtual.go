package emutest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wschat/wschat/internal/sigv4"
)

// VirtualStats are the emulator's counters of posts to virtual connections.
type VirtualStats struct {
	Connections int   `json:"connections"`
	Posts       int64 `json:"posts"`
	Reached     int   `json:"reached"`
}

// virtualPerRequest is what one registration request may ask for (the
// emulator's gateway.MaxVirtualPerRequest).
const virtualPerRequest = 100_000

// AddVirtual registers n virtual connections (the emulator must run with
// --virtual-connections), in requests of at most 100,000, and returns
// their ids.
func (e *Emulator) AddVirtual(ctx context.Context, n int) ([]string, error) {
	ids := make([]string, 0, n)
	for len(ids) < n {
		k := min(n-len(ids), virtualPerRequest)
		var out struct {
			ConnectionIDs []string `json:"connectionIds"`
		}
		if err := e.virtualCall(ctx, http.MethodPost, "?count="+strconv.Itoa(k), &out); err != nil {
			return nil, err
		}
		if len(out.ConnectionIDs) != k {
			return nil, fmt.Errorf("virtual connections: asked for %d, got %d", k, len(out.ConnectionIDs))
		}
		ids = append(ids, out.ConnectionIDs...)
	}
	return ids, nil
}

// Virtual reads the counters; reset zeroes them after reading.
func (e *Emulator) Virtual(ctx context.Context, reset bool) (VirtualStats, error) {
	q := ""
	if reset {
		q = "?reset=1"
	}
	var s VirtualStats
	return s, e.virtualCall(ctx, http.MethodGet, q, &s)
}

func (e *Emulator) virtualCall(ctx context.Context, method, query string, out any) error {
	if e.VirtualURL == "" {
		return errors.New("virtual connections: the emulator runs without --virtual-connections")
	}
	req, err := http.NewRequestWithContext(ctx, method, e.VirtualURL+query, nil)
	if err != nil {
		return err
	}
	// The admin endpoint is signed like @connections.
	if err := sigv4.Sign(req, nil, sigv4.Local, "execute-api", e.Region); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("virtual connections: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("virtual connections: %s %s: %s", method, query, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
