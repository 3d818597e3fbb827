package lambda

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// maxLine bounds how much of an unterminated line is buffered before it is
// written anyway, so a process printing without newlines cannot grow memory.
const maxLine = 64 * 1024

// PrefixWriter writes each complete line to dst in one Write call, prefixed,
// so lines from different instances never interleave mid-line. The emulator
// uses it for dynalite's and the gateway's output too.
type PrefixWriter struct {
	dst    io.Writer
	prefix []byte

	mu  sync.Mutex
	buf []byte
}

// NewPrefixWriter returns a PrefixWriter that writes to dst.
func NewPrefixWriter(dst io.Writer, prefix string) *PrefixWriter {
	return &PrefixWriter{dst: dst, prefix: []byte(prefix)}
}

func (w *PrefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
	return len(p), nil
}

// Flush writes a pending unterminated line.
func (w *PrefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *PrefixWriter) emit(line []byte) {
	out := make([]byte, 0, len(w.prefix)+len(line))
	out = append(out, w.prefix...)
	out = append(out, line...)
	_, _ = w.dst.Write(out)
}

// tailWriter keeps the last few lines written to it, each cut to a bounded
// length, so a failed instance's error can quote what it printed.
type tailWriter struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
}

const (
	tailLines   = 5
	tailLineMax = 300
)

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			t.push()
			continue
		}
		if len(t.partial) < tailLineMax {
			t.partial = append(t.partial, b)
		}
	}
	return len(p), nil
}

func (t *tailWriter) push() {
	if line := strings.TrimSpace(string(t.partial)); line != "" {
		t.lines = append(t.lines, line)
		if len(t.lines) > tailLines {
			t.lines = t.lines[1:]
		}
	}
	t.partial = t.partial[:0]
}

// String is the kept lines joined by " | ", the unterminated one included.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if p := strings.TrimSpace(string(t.partial)); p != "" {
		lines = append(lines[:len(lines):len(lines)], p)
	}
	return strings.Join(lines, " | ")
}
