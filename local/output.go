package main

import (
	"bytes"
	"io"
	"sort"
	"sync"
)

// prefixLines writes each complete line to dst with a prefix, in one Write.
type prefixLines struct {
	dst    io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func newPrefixLines(dst io.Writer, prefix string) *prefixLines {
	return &prefixLines{dst: dst, prefix: prefix}
}

func (p *prefixLines) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		_, _ = p.dst.Write(line)
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
