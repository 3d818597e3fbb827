package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/cost"
	"github.com/wschat/wschat/internal/template"
)

// logConfig is what the template says about the logs a run's counts
// imply: each function's log format and system log level (Lambda's own
// lines per invocation), and the access log formats of the WebSocket and
// publish stages.
type logConfig struct {
	functions  map[string]functionLogging // by label
	wsAccess   string                     // AccessLogSettings.Format of the WebSocket stage
	httpAccess string                     // of the publish API's stage
}

type functionLogging struct {
	Format, SystemLevel string
	Arm64               bool
}

// maxMemoryUsedMB is what the REPORT lines say; the emulator runs host
// builds and does not measure it. It only sizes a number in a log line.
const maxMemoryUsedMB = 40

// readLogConfig reads the logging settings of stack's functions and stages
// from the template at path.
func readLogConfig(path string, stack *template.Stack) (*logConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `json:"Type"`
			Properties struct {
				LoggingConfig *struct {
					LogFormat      string `json:"LogFormat"`
					SystemLogLevel string `json:"SystemLogLevel"`
				} `json:"LoggingConfig"`
				Architectures     []string `json:"Architectures"`
				ApiId             any      `json:"ApiId"`
				AccessLogSettings *struct {
					Format string `json:"Format"`
				} `json:"AccessLogSettings"`
			} `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lc := &logConfig{functions: map[string]functionLogging{}}
	for _, f := range stack.Functions {
		r, ok := doc.Resources[f.LogicalID]
		if !ok {
			continue
		}
		fl := functionLogging{Format: "Text"}
		if c := r.Properties.LoggingConfig; c != nil && c.LogFormat != "" {
			fl.Format, fl.SystemLevel = c.LogFormat, c.SystemLogLevel
		}
		for _, a := range r.Properties.Architectures {
			fl.Arm64 = fl.Arm64 || a == "arm64"
		}
		lc.functions[f.Label] = fl
	}
	httpAPIs := map[string]bool{}
	for _, api := range stack.HTTPAPIs {
		httpAPIs[api.LogicalID] = true
	}
	for _, r := range doc.Resources {
		if r.Type != "AWS::ApiGatewayV2::Stage" || r.Properties.AccessLogSettings == nil {
			continue
		}
		ref, _ := r.Properties.ApiId.(map[string]any)
		if id, _ := ref["Ref"].(string); httpAPIs[id] {
			lc.httpAccess = r.Properties.AccessLogSettings.Format
		} else {
			lc.wsAccess = r.Properties.AccessLogSettings.Format
		}
	}
	return lc, nil
}

// of is the log shape of a run: Lambda's lines for each invocation of the
// functions it invoked (sized with their measured mean duration), averaged
// over the invocations, and the access log lines.
func (lc *logConfig) of(m cost.Measured) cost.LogShape {
	var shape cost.LogShape
	var inv, events, bytes float64
	for name, f := range m.Functions {
		if f.Invocations == 0 {
			continue
		}
		fl := lc.functions[name]
		mean := float64(f.BilledMs) / float64(f.Invocations)
		e, b := cost.Shape(cost.PlatformLines(fl.Format, fl.SystemLevel, "21031eb6-ca68-4a61-8659-9d451a8774ec", mean, f.MemoryMB, maxMemoryUsedMB))
		inv += float64(f.Invocations)
		events += float64(e) * float64(f.Invocations)
		bytes += b * float64(f.Invocations)
	}
	if inv > 0 {
		shape.PlatformEventsPerInvocation = int(events/inv + 0.5)
		shape.PlatformBytesPerInvocation = bytes / inv
	}
	if lc.wsAccess != "" {
		shape.AccessLogBytesPerRequest = float64(len(cost.AccessLogLine(lc.wsAccess, contract.ActionSend)))
	}
	if lc.httpAccess != "" {
		shape.HTTPAccessLogBytesPerRequest = float64(len(cost.AccessLogLine(lc.httpAccess, "POST /channels/{channel}/messages")))
	}
	return shape
}
