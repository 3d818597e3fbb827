package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wschat/wschat/internal/emutest"
)

// postHold is an HTTP proxy in front of the emulator's @connections API
// (the functions get its URL as their callback URL) that holds the POSTs to
// chosen connections until released. With it a test knows a broadcast is
// in progress (it is waiting on those posts) when it injects a fault,
// instead of racing a timer against the fan-out. Each request is signed
// again (SigV4, the emulator's local credentials) for the emulator's
// address, so the emulator verifies it as it would the function's own.
type postHold struct {
	ln       net.Listener
	srv      *http.Server
	mu       sync.Mutex
	upstream *url.URL
	ids      map[string]bool
	held     map[string]bool // ids with a post waiting
	release  chan struct{}
	changed  chan struct{}
}

func startPostHold(t *testing.T) *postHold {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &postHold{ln: ln, ids: map[string]bool{}, held: map[string]bool{}, release: make(chan struct{}), changed: make(chan struct{}, 1)}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() {
		p.releaseAll()
		_ = p.srv.Close()
	})
	return p
}

// callbackURL is the @connections endpoint the functions should use.
func (p *postHold) callbackURL(stage string) string {
	return "http://" + p.ln.Addr().String() + "/" + stage
}

// forwardTo sets the emulator the proxy forwards to.
func (p *postHold) forwardTo(e *emutest.Emulator) {
	u, _ := url.Parse(e.BaseURL)
	p.mu.Lock()
	p.upstream = u
	p.mu.Unlock()
}

// hold makes POSTs to ids wait until releaseAll.
func (p *postHold) hold(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.ids[id] = true
	}
}

func (p *postHold) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

// waitHeld waits until a post to each of ids is being held.
func (p *postHold) waitHeld(ctx context.Context, ids []string) error {
	for {
		p.mu.Lock()
		n := 0
		for _, id := range ids {
			if p.held[id] {
				n++
			}
		}
		p.mu.Unlock()
		if n == len(ids) {
			return nil
		}
		select {
		case <-p.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *postHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, rawID, _ := strings.Cut(r.URL.EscapedPath(), "/@connections/")
	id, _ := url.PathUnescape(rawID)
	p.mu.Lock()
	hold := r.Method == http.MethodPost && p.ids[id]
	if hold {
		p.held[id] = true
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
	up := p.upstream
	p.mu.Unlock()
	if hold {
		select {
		case <-p.release:
		case <-r.Context().Done():
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, up.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
