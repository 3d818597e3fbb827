package handler

import (
	"sync"
	"time"
)

// frameLimiter is the per-instance, in-memory budget of every frame a
// connection sends, checked before the frame is even decoded: ping,
// $default and undecodable frames spend from it too, and it costs no
// DynamoDB call. It is per instance, so a connection whose frames land on n
// warm instances gets up to n times the rate; the shared limits in DynamoDB
// (per connection and per user) stay exact for the actions that do work.
//
// It also counts strikes, the frames refused by any limit, so that a
// connection which keeps sending after being told to slow down is closed.
type frameLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second; 0 disables the bucket
	burst   float64
	maxKeys int
	conns   map[string]*frameBucket
}

type frameBucket struct {
	tokens   float64
	last     time.Time
	strikes  int       // refusals since the last allowed frame run
	noticeAt time.Time // when the last rate_limited frame was sent
	closed   bool      // Delete already asked for
}

// frameLimiterKeys bounds the map: at ~100 bytes an entry, 10,000
// connections cost about 1 MB of a 256 MB function.
const frameLimiterKeys = 10_000

func newFrameLimiter(rate float64, burst int) *frameLimiter {
	return &frameLimiter{rate: rate, burst: float64(burst), maxKeys: frameLimiterKeys, conns: map[string]*frameBucket{}}
}

// bucket returns connID's bucket, making room when the map is full: first
// by dropping full, strike-free buckets (idle connections, which lose
// nothing), then, if every entry is busy, by starting over, which at worst
// forgives each connection one burst.
func (l *frameLimiter) bucket(connID string, now time.Time) *frameBucket {
	if b, ok := l.conns[connID]; ok {
		return b
	}
	if len(l.conns) >= l.maxKeys {
		for id, b := range l.conns {
			if b.strikes == 0 && l.refill(b, now) >= l.burst {
				delete(l.conns, id)
			}
		}
		if len(l.conns) >= l.maxKeys {
			clear(l.conns)
		}
	}
	b := &frameBucket{tokens: l.burst, last: now}
	l.conns[connID] = b
	return b
}

func (l *frameLimiter) refill(b *frameBucket, now time.Time) float64 {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	return b.tokens
}

// take spends one token of connID's frame budget. ok is false when the
// frame must be refused, which counts as a strike.
func (l *frameLimiter) take(connID string, now time.Time) (ok bool) {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(connID, now)
	if l.refill(b, now) >= 1 {
		b.tokens--
		return true
	}
	b.strikes++
	return false
}

// strike records a refusal by another limit (the shared rate limits).
func (l *frameLimiter) strike(connID string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(connID, now).strikes++
}

// forgive resets connID's strikes: it sent a frame that was accepted.
func (l *frameLimiter) forgive(connID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.conns[connID]; ok {
		b.strikes = 0
	}
}

// verdict says what to do after a refusal: notify (send a rate_limited
// frame; at most one a second, so a flood is not answered frame for frame)
// and closeNow (strikes reached limit and Delete was not asked for yet).
func (l *frameLimiter) verdict(connID string, now time.Time, limit int) (notify, closeNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(connID, now)
	if limit > 0 && b.strikes >= limit && !b.closed {
		b.closed = true
		return false, true
	}
	if b.closed || now.Sub(b.noticeAt) < time.Second {
		return false, false
	}
	b.noticeAt = now
	return true, false
}
