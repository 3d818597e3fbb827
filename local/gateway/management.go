package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// The @connections management API. The Go SDK (apigatewaymanagementapi)
// signs requests with SigV4, and the gateway verifies the signature against
// the local credentials as AWS does with IAM (an unsigned call gets 403).
// Errors carry
// x-amzn-ErrorType, from which the SDK builds its typed errors
// (*types.GoneException for 410).

// delay applies --post-latency, bounded by the request.
func (g *Gateway) delay(r *http.Request) bool {
	if g.cfg.PostLatency <= 0 {
		return true
	}
	t := time.NewTimer(g.cfg.PostLatency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func gone(w http.ResponseWriter) {
	apiError(w, http.StatusGone, "GoneException", "Gone")
}

func (g *Gateway) postToConnection(w http.ResponseWriter, r *http.Request) {
	if !g.delay(r) {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxMessageBytes+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	}
	if len(data) > MaxMessageBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Request payload too large")
		return
	}
	id := unescapeID(r.PathValue("id"))
	c := g.lookup(id)
	if vc := g.virtual.lookup(id); c == nil && vc != nil {
		vc.posts.Add(1)
		g.usage.sent(len(data))
		vc.lastActive.Store(time.Now().UnixMilli())
		w.Header().Set("x-amzn-RequestId", newRequestUUID())
		w.WriteHeader(http.StatusOK)
		return
	}
	if c == nil {
		gone(w)
		return
	}
	if r.Context().Err() != nil {
		return // the caller gave up (timed out or crashed) before the post
	}
	// send only queues: the write happens without the caller, so a poster
	// never waits on a slow or dead client, and a poster that gives up never
	// cuts off the recipient. A connection whose peer is lost answers 410 at
	// once (or 200, discarded, during --vanish-grace).
	if err := c.send(data); err != nil {
		gone(w)
		return
	}
	w.Header().Set("x-amzn-RequestId", newRequestUUID())
	w.WriteHeader(http.StatusOK)
}

// connectionInfo is GetConnection's answer.
type connectionInfo struct {
	ConnectedAt  string       `json:"connectedAt"`
	Identity     infoIdentity `json:"identity"`
	LastActiveAt string       `json:"lastActiveAt"`
}

type infoIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

const isoMillis = "2006-01-02T15:04:05.000Z"

func (g *Gateway) getConnection(w http.ResponseWriter, r *http.Request) {
	if !g.delay(r) {
		return
	}
	id := unescapeID(r.PathValue("id"))
	c := g.lookup(id)
	var info connectionInfo
	switch vc := g.virtual.lookup(id); {
	case c == nil && vc != nil:
		info = connectionInfo{
			ConnectedAt:  vc.connectedAt.UTC().Format(isoMillis),
			Identity:     infoIdentity{SourceIP: "127.0.0.1", UserAgent: "virtual-connection"},
			LastActiveAt: time.UnixMilli(vc.lastActive.Load()).UTC().Format(isoMillis),
		}
	case c == nil || (c.isGone() && !c.vanished.Load()):
		gone(w)
		return
	default:
		info = connectionInfo{
			ConnectedAt:  c.connectedAt.UTC().Format(isoMillis),
			Identity:     infoIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
			LastActiveAt: time.UnixMilli(c.lastActive.Load()).UTC().Format(isoMillis),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", newRequestUUID())
	_ = json.NewEncoder(w).Encode(info)
}

func (g *Gateway) deleteConnection(w http.ResponseWriter, r *http.Request) {
	if !g.delay(r) {
		return
	}
	id := unescapeID(r.PathValue("id"))
	c := g.lookup(id)
	if c == nil && g.virtual != nil && g.virtual.remove(id) {
		w.Header().Set("x-amzn-RequestId", newRequestUUID())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if c == nil {
		gone(w)
		return
	}
	if c.vanished.Load() {
		c.endOnce.Do(func() { close(c.endGrace) })
	} else {
		// Close waits for the client's close frame; do not hold the caller for it.
		go c.close(websocket.StatusNormalClosure, "")
	}
	w.Header().Set("x-amzn-RequestId", newRequestUUID())
	w.WriteHeader(http.StatusNoContent)
}
