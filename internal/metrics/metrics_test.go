package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func TestEmitWritesOneEMFLine(t *testing.T) {
	var buf bytes.Buffer
	e := New(&buf, "WsChat/dev")
	e.now = func() time.Time { return time.UnixMilli(1700000000123) }
	e.Emit(Value{"Deliveries", Count, 47}, Value{"FanoutDurationMs", Milliseconds, 12.5})

	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("Emit wrote %d lines, want 1: %s", len(lines), buf.Bytes())
	}
	var got map[string]any
	if err := json.Unmarshal(lines[0], &got); err != nil {
		t.Fatalf("line is not JSON: %v", err)
	}
	want := map[string]any{
		"Deliveries":       47.0,
		"FanoutDurationMs": 12.5,
		"_aws": map[string]any{
			"Timestamp": 1700000000123.0,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "WsChat/dev",
				"Dimensions": []any{[]any{}},
				"Metrics": []any{
					map[string]any{"Name": "Deliveries", "Unit": "Count"},
					map[string]any{"Name": "FanoutDurationMs", "Unit": "Milliseconds"},
				},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EMF line =\n%v\nwant\n%v", got, want)
	}
}

func TestNilEmitterAndNoValuesWriteNothing(t *testing.T) {
	var e *Emitter
	e.Emit(Value{"X", Count, 1})
	var buf bytes.Buffer
	New(&buf, "").Emit()
	if buf.Len() != 0 {
		t.Errorf("Emit() wrote %q, want nothing", buf.String())
	}
}

func TestBatchRidesOnTheRequestLine(t *testing.T) {
	var metricsOut, logsOut bytes.Buffer
	e := New(&metricsOut, "WsChat/dev")
	e.now = func() time.Time { return time.UnixMilli(1700000000123) }
	log := slog.New(slog.NewJSONHandler(&logsOut, nil))

	ctx := WithBatch(context.Background())
	e.Record(ctx, Value{"MessagesAccepted", Count, 1})
	attrs := e.Attrs(ctx, Value{"Deliveries", Count, 10}, Value{"MessagesAccepted", Count, 7})
	log.LogAttrs(ctx, slog.LevelInfo, "fanout", append([]slog.Attr{slog.String("channel", "room")}, attrs...)...)
	e.Flush(ctx)
	if metricsOut.Len() != 0 {
		t.Errorf("metrics written apart from the request's line: %s", metricsOut.String())
	}
	var got map[string]any
	if err := json.Unmarshal(logsOut.Bytes(), &got); err != nil {
		t.Fatalf("line %s: %v", logsOut.Bytes(), err)
	}
	aws, _ := got["_aws"].(map[string]any)
	defs := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any)
	if got["channel"] != "room" || got["Deliveries"] != 10.0 || got["MessagesAccepted"] != 1.0 || len(defs) != 2 || aws["Timestamp"] != 1700000000123.0 {
		t.Errorf("line = %s: want the log fields, each metric once (the batched value first) and the _aws block", logsOut.Bytes())
	}

	// What no line took is flushed at the end; without a batch, Record writes at once.
	e.Record(ctx, Value{"RateLimited", Count, 1})
	e.Flush(ctx)
	e.Record(context.Background(), Value{"FramesDropped", Count, 1})
	if n := bytes.Count(metricsOut.Bytes(), []byte("\n")); n != 2 || !bytes.Contains(metricsOut.Bytes(), []byte(`"RateLimited":1`)) {
		t.Errorf("flushed and unbatched lines = %s, want 2", metricsOut.String())
	}
	e.Flush(ctx) // nothing left: no line
	if n := bytes.Count(metricsOut.Bytes(), []byte("\n")); n != 2 {
		t.Errorf("an empty flush wrote a line")
	}
}
