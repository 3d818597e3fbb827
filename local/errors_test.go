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
