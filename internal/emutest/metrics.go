package emutest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wschat/wschat/local/gateway"
)

// GatewayMetrics reads the emulator's gateway meters (GET /@admin/metrics):
// messages each way, invocations by route, MOCK answers, and the gauge of
// work in flight. reset zeroes the counters after reading.
func (e *Emulator) GatewayMetrics(ctx context.Context, reset bool) (gateway.Metrics, error) {
	u := e.BaseURL + gateway.MetricsPath
	if reset {
		u += "?reset=1"
	}
	var m gateway.Metrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return m, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("gateway metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("gateway metrics: %d %s: %v", resp.StatusCode, strings.TrimSpace(string(b)), err)
	}
	return m, json.Unmarshal(b, &m)
}
