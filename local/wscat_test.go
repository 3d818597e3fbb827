package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/internal/testkit"
)

// testWscatREADME types the README's wscat lines (the quick start's and the
// message lifecycle's) into a real wscat, one at a time as a person would,
// each after the answer to the previous one, in a fresh channel, and checks
// that each is answered as the README says and none with an error: the
// README's walk-through works with a stock client, and stays true.
func testWscatREADME(t *testing.T, e *emulator) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	wscat := filepath.Join(root, "node_modules", "wscat", "bin", "wscat")
	script, err := exec.LookPath("script") // util-linux: wscat reads a terminal
	if err != nil {
		t.Fatalf("the wscat walk-through needs script (util-linux): %v", err)
	}
	if _, err := os.Stat(wscat); err != nil {
		t.Fatalf("wscat is not installed (npm ci): %v", err)
	}
	lines := readmeWscatLines(t, filepath.Join(root, "README.md"))
	channel := fmt.Sprintf("readme-%d", time.Now().UnixNano()%1e9)
	for i := range lines {
		lines[i] = strings.ReplaceAll(lines[i], `"channel":"general"`, `"channel":"`+channel+`"`)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	url := e.wsURL + "?token=" + mintToken(t, e, "walker")
	cmd := exec.CommandContext(ctx, script, "-qec", fmt.Sprintf("node %s --no-color -c '%s'", wscat, url), "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	waitOutput(t, out, "Connected", 30*time.Second)
	// The README's lifecycle lines name the seq its example send was acked
	// as; a channel's seqs start at its counter's base, so the lines are
	// shifted by what this run's ack says.
	example := readmeExampleSeq(t, filepath.Join(root, "README.md"))
	shift := int64(0)
	for i, line := range lines {
		if i > 0 && shift == 0 && strings.Contains(lines[i-1], `"action":"send"`) {
			m := ackSeqRE.FindAllStringSubmatch(out.String(), -1)
			if len(m) == 0 {
				t.Fatalf("wscat: no ack with a seq after %s; output:\n%s", lines[i-1], frames(out.String()))
			}
			got, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
			shift = got - example
		}
		line = seqFieldRE.ReplaceAllStringFunc(line, func(f string) string {
			k, v, _ := strings.Cut(f, ":")
			n, _ := strconv.ParseInt(v, 10, 64)
			return k + ":" + strconv.FormatInt(n+shift, 10)
		})
		want := answerOf(t, line)
		before := strings.Count(out.String(), want)
		if _, err := io.WriteString(stdin, line+"\r"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(out.String(), want) == before {
			if time.Now().After(deadline) {
				t.Fatalf("wscat: %s not answered with %s; output:\n%s", line, want, frames(out.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	got := frames(out.String())
	if strings.Contains(got, `"type":"error"`) {
		t.Errorf("a README line was answered with an error:\n%s", got)
	}
	t.Logf("wscat: %d README lines typed and answered in channel %s", len(lines), channel)
}

// readmeWscatLines are the README's lines typed into wscat ("> {…}"), with
// their trailing comments cut.
func readmeWscatLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l, ok := strings.CutPrefix(sc.Text(), "> {")
		if !ok {
			continue
		}
		l = "{" + l
		if i := strings.Index(l, "}  "); i >= 0 {
			l = l[:i+1]
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if len(lines) < 10 {
		t.Fatalf("found %d wscat lines in %s, want the quick start's and the lifecycle's", len(lines), path)
	}
	return lines
}

var (
	ackSeqRE   = regexp.MustCompile(`"type":"ack","channel":"[^"]*","clientId":"[^"]*","seq":(\d+)`)
	seqFieldRE = regexp.MustCompile(`"(seq|replyTo|thread)":\d+`)
)

// readmeExampleSeq is the seq the README says its example send was acked as.
func readmeExampleSeq(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`acked as seq (\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not say which seq its example send was acked as", path)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// answerOf is what a line's answer contains.
func answerOf(t *testing.T, line string) string {
	t.Helper()
	var r struct {
		Action   string `json:"action"`
		ReplyTo  int64  `json:"replyTo"`
		Thread   int64  `json:"thread"`
		ClientID string `json:"clientId"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("README line %s: %v", line, err)
	}
	switch r.Action {
	case "join":
		return `"type":"joined"`
	case "send":
		return `"type":"ack","channel"`
	case "edit", "delete", "react", "unreact":
		return `"type":"ack","action":"` + r.Action + `"`
	case "history":
		if r.Thread != 0 {
			return `"thread":`
		}
		return `"type":"history"`
	case "typing", "read", "channels":
		return `"type":"` + r.Action + `"`
	}
	t.Fatalf("README line %s: no expected answer for action %q", line, r.Action)
	return ""
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// frames are the frames wscat printed ("< {…}"), one per line.
func frames(out string) string {
	var b strings.Builder
	for _, l := range strings.FieldsFunc(ansi.ReplaceAllString(out, ""), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if i := strings.Index(l, "< {"); i >= 0 {
			b.WriteString(l[i+2:] + "\n")
		}
	}
	return b.String()
}

func waitOutput(t *testing.T, out *testkit.Buffer, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !strings.Contains(out.String(), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("wscat: no %q within %s; output:\n%s", want, within, out.String())
		}
	}
}
