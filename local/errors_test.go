package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPortInUseNamesTheProcess: the listener is this test's own, so the
// error must name this process.
func TestPortInUseNamesTheProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	args := append([]string{"--port", fmt.Sprint(port), "--issuer-key", filepath.Join(t.TempDir(), "k.pem")}, testFnTemplate...)
	err = run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
	want := fmt.Sprintf("port %d is in use by pid %d (", port, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--port") {
		t.Errorf("err = %v, want %q and advice about --port", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("not one line: %q", err)
	}
}

// TestInterruptDuringBuild: Ctrl-C (the context ends) while the functions
// build stops the start with one clear line.
func TestInterruptDuringBuild(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	args := append([]string{"--port", "0", "--issuer-key", filepath.Join(t.TempDir(), "k.pem")}, testFnTemplate...)
	err := run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "interrupted while building 1 functions") {
		t.Errorf("err = %v, want an interrupted-build error", err)
	}
}

// TestDynaliteMissing: a template with a table and no dynalite executable
// stops with the advice to run npm ci.
func TestDynaliteMissing(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fn.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	table := `"Table":{"Type":"AWS::DynamoDB::Table","Properties":{"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}},`
	withTable := strings.Replace(string(data), `"Resources": {`, `"Resources": {`+table, 1)
	if withTable == string(data) {
		t.Fatal("could not add a table to the test template")
	}
	tpl := filepath.Join(t.TempDir(), "table.template.json")
	if err := os.WriteFile(tpl, []byte(withTable), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--template", tpl, "--allow-stale", "--port", "0", "--issuer-key", filepath.Join(t.TempDir(), "k.pem"),
		"--dynalite", filepath.Join(t.TempDir(), "node_modules", ".bin", "dynalite")}
	err = run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Errorf("err = %v, want advice to run npm ci", err)
	}
}
