package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// invoke runs `local invoke` on the test function with the event.
func invoke(t *testing.T, fn, event string, stdin string) (stdout, stderr string, err error) {
	t.Helper()
	path := event
	if event != "-" && !strings.HasPrefix(event, "@") {
		path = filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(path, []byte(event), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path = strings.TrimPrefix(path, "@")
	args := append([]string{fn, "--event", path, "--issuer-key", filepath.Join(t.TempDir(), "k.pem")}, testFnTemplate...)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = runInvoke(ctx, args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestInvoke(t *testing.T) {
	tests := []struct {
		name, fn, event, stdin string
		wantOut                []string // substrings of stdout
		wantErr                string   // substring of the error; "" for success
		wantFnErr              bool     // the function ran and failed (exit 2)
		wantStderr             []string
	}{
		{name: "success", fn: "fn", event: `{"print":"hello from fn","env":"AWS_LAMBDA_FUNCTION_NAME"}`,
			wantOut: []string{`"statusCode":200`, `"AWS_LAMBDA_FUNCTION_NAME":"fn"`}, wantStderr: []string{"] hello from fn", "REPORT fn Duration:"}},
		{name: "logical id and stdin", fn: "Fn", event: "-", stdin: `{"env":"AWS_REGION"}`,
			wantOut: []string{`"AWS_REGION":"us-east-1"`}},
		{name: "function error", fn: "fn", event: `{"error":"boom"}`,
			wantOut: []string{`"errorMessage":"boom"`}, wantErr: "boom", wantFnErr: true, wantStderr: []string{"FAILED"}},
		{name: "timeout", fn: "fn", event: `{"sleep":"30s"}`,
			wantOut: []string{`"errorType":"Sandbox.Timedout"`}, wantErr: "Task timed out after 1.00 seconds", wantFnErr: true},
		{name: "crash", fn: "fn", event: `{"crash":true}`,
			wantOut: []string{`"errorType":"Runtime.ExitError"`}, wantErr: "exit status 3", wantFnErr: true, wantStderr: []string{"crashing on purpose"}},
		{name: "bad event file", fn: "fn", event: `{"print":`, wantErr: "is not JSON"},
		{name: "missing event file", fn: "fn", event: "@/nonexistent/event.json", wantErr: "read the event"},
		{name: "empty stdin", fn: "fn", event: "-", stdin: " \n", wantErr: "is empty"},
		{name: "unknown function", fn: "nosuch", event: `{}`, wantErr: `no function "nosuch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, err := invoke(t, tt.fn, tt.event, tt.stdin)
			took := time.Since(start)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v\nstderr:\n%s", err, stderr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q\nstderr:\n%s", err, tt.wantErr, stderr)
			}
			var fnErr *functionError
			if got := errors.As(err, &fnErr); got != tt.wantFnErr {
				t.Errorf("function error = %v, want %v (err %v)", got, tt.wantFnErr, err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout %q lacks %q", stdout, w)
				}
			}
			if stdout != "" && !json.Valid([]byte(stdout)) {
				t.Errorf("stdout is not one JSON document: %q", stdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.name == "timeout" && took > 30*time.Second {
				t.Errorf("the 1 s timeout took %v to report", took)
			}
		})
	}
}
