package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/template"
)

func TestParseEnvOverride(t *testing.T) {
	tests := []struct {
		in      string
		want    envOverride
		wantErr string
	}{
		{"chat:WSCHAT_FANOUT_WORKERS=128", envOverride{"chat", "WSCHAT_FANOUT_WORKERS", "128"}, ""},
		{"Fn:A=b=c", envOverride{"Fn", "A", "b=c"}, ""},
		{"fn:EMPTY=", envOverride{"fn", "EMPTY", ""}, ""},
		{"chat", envOverride{}, "want FN:KEY=VALUE"},
		{":A=1", envOverride{}, "want FN:KEY=VALUE"},
		{"chat:A", envOverride{}, "non-empty KEY"},
		{"chat:=1", envOverride{}, "non-empty KEY"},
	}
	for _, tt := range tests {
		got, err := parseEnvOverride(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestApplyEnvOverrides(t *testing.T) {
	chat := &template.Function{LogicalID: "ChatFn1", Label: "chat", Env: map[string]string{"A": "1"},
		EnvErrors: map[string]error{"B": os.ErrNotExist}}
	auth := &template.Function{LogicalID: "AuthFn2", Label: "authorizer", Env: map[string]string{"A": "1"}}
	fns := []*template.Function{chat, auth}
	err := applyEnvOverrides(fns, []envOverride{{"chat", "A", "2"}, {"ChatFn1", "B", "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if chat.Env["A"] != "2" || chat.Env["B"] != "x" || len(chat.EnvErrors) != 0 {
		t.Errorf("chat env %v errors %v, want A=2 B=x and no errors", chat.Env, chat.EnvErrors)
	}
	if auth.Env["A"] != "1" {
		t.Errorf("authorizer changed: %v", auth.Env)
	}
	err = applyEnvOverrides(fns, []envOverride{{"nope", "A", "1"}})
	if err == nil || !strings.Contains(err.Error(), `no function "nope"`) || !strings.Contains(err.Error(), "chat (ChatFn1)") {
		t.Errorf("unknown function: err = %v, want one naming the functions there are", err)
	}
}

func TestReadyFileAndFunctionEnv(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"--ready-file", ready, "--function-env", "fn:GREETING=hello from the flag", "--function-env", "Fn:AWS_REGION=eu-west-1"}, testFnTemplate...)
	e := startEmulator(t, args...)
	data, err := os.ReadFile(ready)
	if err != nil {
		t.Fatalf("ready file not written once serving: %v", err)
	}
	var doc readyDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("ready file %s: %v", data, err)
	}
	if doc.WebSocketURL != e.wsURL || doc.CallbackURL != e.baseURL+"/test" || doc.PageURL != e.baseURL+"/" ||
		doc.IssuerURL != e.baseURL+issuerPath || doc.TokenURL != e.baseURL+issuerPath+"/token" || doc.Stage != "test" || doc.PID != os.Getpid() {
		t.Errorf("ready file = %+v, want the endpoints of %s", doc, e.baseURL)
	}
	// A template without queues starts no SQS, and no flag, no virtual connections.
	if doc.SQS != "" || len(doc.Queues) != 0 || doc.VirtualConnectionsURL != "" || strings.Contains(e.log.String(), "  SQS ") {
		t.Errorf("ready file: sqs %q, queues %v, virtual %q; want none for a template without queues", doc.SQS, doc.Queues, doc.VirtualConnectionsURL)
	}
	// Every HTTP endpoint in it answers.
	for _, u := range []string{doc.PageURL, doc.JWKSURL} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
	}
	c := dial(t, doc.WebSocketURL, nil)
	send(t, c, `{"action":"echo","env":"GREETING,AWS_REGION"}`)
	got := readFrame(t, c, 10*time.Second)
	env, _ := got["env"].(map[string]any)
	if env["GREETING"] != "hello from the flag" || env["AWS_REGION"] != "eu-west-1" {
		t.Errorf("function env = %v, want the two --function-env values", env)
	}
}

func TestReadyFileNotWrittenOnFailedStart(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"--port", "0", "--issuer-key", filepath.Join(t.TempDir(), "k.pem"), "--ready-file", ready, "--function-env", "nosuch:A=1"}, testFnTemplate...)
	err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `no function "nosuch"`) || !strings.Contains(err.Error(), "fn (Fn)") {
		t.Errorf("err = %v, want an unknown-function error naming fn (Fn)", err)
	}
	if _, statErr := os.Stat(ready); !os.IsNotExist(statErr) {
		t.Errorf("ready file exists after a failed start: %v", statErr)
	}
}
