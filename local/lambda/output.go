package lambda

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds how much of an unterminated line is buffered before it is
// written anyway, so a process printing without newlines cannot grow memory.
const maxLine = 64 * 1024

// prefixWriter writes each complete line to dst in one Write call, prefixed,
// so lines from different instances never interleave mid-line.
type prefixWriter struct {
	dst    io.Writer
	prefix []byte

	mu  sync.Mutex
	buf []byte
}

func newPrefixWriter(dst io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{dst: dst, prefix: []byte(prefix)}
}

func (w *prefixWriter) Write(p []byte) (int, error) {
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
func (w *prefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *prefixWriter) emit(line []byte) {
	out := make([]byte, 0, len(w.prefix)+len(line))
	out = append(out, w.prefix...)
	out = append(out, line...)
	_, _ = w.dst.Write(out)
}
