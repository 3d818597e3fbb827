package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestFollowPrintsEachEvent(t *testing.T) {
	lines := []string{
		`{"bus":"chat","rules":["Seen"],"event":{"detail-type":"message.created.v1","source":"wschat","detail":{"seq":1}}}`,
		`{"bus":"chat","rules":[],"event":{"detail-type":"member.joined.v1","source":"wschat","detail":{"channel":"general"}}}`,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/@events" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"-port", port, "-once"}, &out, &errs); code != 1 {
		t.Errorf("exit %d at the end of the stream with -once, want 1", code)
	}
	got := out.String()
	if !strings.Contains(got, "message.created.v1") || !strings.Contains(got, "→ Seen") || !strings.Contains(got, `{"seq":1}`) || !strings.Contains(got, "no rule") {
		t.Errorf("output:\n%s", got)
	}
	out.Reset()
	run(context.Background(), []string{"-port", port, "-once", "-type", "member.", "-json"}, &out, &errs)
	if strings.TrimSpace(out.String()) != lines[1] {
		t.Errorf("-type member. -json printed:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"-port", "0"}, &out, &errs); code != 2 {
		t.Errorf("-port 0: exit %d", code)
	}
}
