package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// frameGuard watches the raw client-to-server byte stream for a frame whose
// payload exceeds the frame quota. The WebSocket library reassembles frames
// into messages before the gateway sees them, so the frame size is only
// visible here, below it.
type frameGuard struct {
	net.Conn
	r     io.Reader // the hijacked connection's buffered reader
	limit uint64

	hdr       []byte // header bytes of the frame being parsed
	remaining uint64 // payload bytes left in the current frame
	tooBig    atomic.Bool
}

func (g *frameGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.scan(p[:n])
	return n, err
}

// exceeded reports whether any frame so far was over the limit.
func (g *frameGuard) exceeded() bool { return g.tooBig.Load() }

// scan advances the frame parser (RFC 6455 section 5.2) over b.
func (g *frameGuard) scan(b []byte) {
	for len(b) > 0 {
		if g.remaining > 0 {
			k := min(g.remaining, uint64(len(b)))
			g.remaining -= k
			b = b[k:]
			continue
		}
		g.hdr = append(g.hdr, b[0])
		b = b[1:]
		if len(g.hdr) < 2 {
			continue
		}
		need := 2
		switch g.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		masked := g.hdr[1]&0x80 != 0
		if masked {
			need += 4
		}
		if len(g.hdr) < need {
			continue
		}
		var length uint64
		switch l := g.hdr[1] & 0x7f; l {
		case 126:
			length = uint64(g.hdr[2])<<8 | uint64(g.hdr[3])
		case 127:
			for _, c := range g.hdr[2:10] {
				length = length<<8 | uint64(c)
			}
		default:
			length = uint64(l)
		}
		if length > g.limit {
			g.tooBig.Store(true)
		}
		g.remaining = length
		g.hdr = g.hdr[:0]
	}
}

// guardedWriter hands the WebSocket library a hijacked connection whose reads
// pass through a frameGuard.
type guardedWriter struct {
	http.ResponseWriter
	guard *frameGuard
}

func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.guard.Conn = conn
	// Read through brw.Reader so bytes the server already buffered are scanned too.
	w.guard.r = brw.Reader
	return w.guard, bufio.NewReadWriter(bufio.NewReader(w.guard), brw.Writer), nil
}
