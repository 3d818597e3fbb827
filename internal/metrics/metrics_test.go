package metrics

import (
	"bytes"
	"encoding/json"
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
