package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/wschat/wschat/internal/logging"
)

func TestNewLevels(t *testing.T) {
	tests := []struct {
		level   string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{" Warning ", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"loud", 0, true},
	}
	for _, tt := range tests {
		log, err := logging.New(&bytes.Buffer{}, tt.level)
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%q) error = %v, want error %v", tt.level, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		ctx := context.Background()
		if !log.Enabled(ctx, tt.want) || log.Enabled(ctx, tt.want-1) {
			t.Errorf("New(%q): lowest enabled level is not %v", tt.level, tt.want)
		}
	}
}

// TestLineKeys checks the keys every function's lines share: Lambda's own
// (timestamp, level, message), awsRequestId from the invocation's context,
// the request attributes put in the context, and the one error key.
func TestLineKeys(t *testing.T) {
	var out bytes.Buffer
	log, err := logging.New(&out, "debug")
	if err != nil {
		t.Fatal(err)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-1"})
	ctx = logging.WithAttrs(ctx, slog.String("connectionId", "c1"))
	ctx = logging.WithAttrs(ctx, slog.String(logging.APIRequestID, "api-1"))
	log.With(slog.String("fn", "test")).ErrorContext(ctx, "failed", logging.Err(errors.New("boom")))

	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	want := map[string]any{
		"level": "ERROR", "message": "failed", "awsRequestId": "lambda-1", "connectionId": "c1",
		"apiRequestId": "api-1", "error": "boom", "fn": "test",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("line[%q] = %v, want %v (line %s)", k, line[k], v, out.String())
		}
	}
	if _, ok := line["timestamp"].(string); !ok {
		t.Errorf("line has no timestamp: %s", out.String())
	}
	for _, k := range []string{"time", "msg", "requestId", "err"} {
		if _, ok := line[k]; ok {
			t.Errorf("line has key %q, which no function may use: %s", k, out.String())
		}
	}
}

// TestWithAttrsDoesNotShare checks that two contexts derived from one parent
// do not see each other's attributes (the append must copy).
func TestWithAttrsDoesNotShare(t *testing.T) {
	var out bytes.Buffer
	log, err := logging.New(&out, "")
	if err != nil {
		t.Fatal(err)
	}
	// Three appends leave spare capacity in the parent's slice (cap 4 for
	// 3), which an append without a copy would share between the children.
	parent := context.Background()
	for _, k := range []string{"a", "x", "y"} {
		parent = logging.WithAttrs(parent, slog.String(k, "1"))
	}
	first := logging.WithAttrs(parent, slog.String("b", "first"))
	_ = logging.WithAttrs(parent, slog.String("b", "second"))
	log.InfoContext(first, "x")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["a"] != "1" || line["b"] != "first" {
		t.Errorf("line = %v, want a=1 b=first", line)
	}
}

func TestTimestampToTheMillisecond(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	ts, _ := line["timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", ts); err != nil || len(ts) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("timestamp %q: want RFC 3339 in UTC to the millisecond (%v)", ts, err)
	}
}
