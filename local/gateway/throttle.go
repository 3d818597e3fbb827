package gateway

import (
	"math"
	"sync"
	"time"
)

// Limit is one route's throttling target: ThrottlingRateLimit (requests per
// second, steady state) and ThrottlingBurstLimit (the bucket's size).
type Limit struct {
	Rate  float64
	Burst int
}

// Throttle is a stage's route throttling. API Gateway applies the stage's
// DefaultRouteSettings to each route on its own (a bucket per route, not one
// shared by the stage), and a route's RouteSettings entry replaces them.
type Throttle struct {
	Default *Limit           // nil: routes without an entry are not throttled
	Routes  map[string]Limit // by route key
}

func (t *Throttle) limit(routeKey string) (Limit, bool) {
	if t == nil {
		return Limit{}, false
	}
	if l, ok := t.Routes[routeKey]; ok {
		return l, true
	}
	if t.Default != nil {
		return *t.Default, true
	}
	return Limit{}, false
}

// buckets holds a token bucket per throttled route, created on first use.
type buckets struct {
	throttle *Throttle
	now      func() time.Time

	mu sync.Mutex
	by map[string]*bucket
}

type bucket struct {
	limit  Limit
	tokens float64
	last   time.Time
}

func newBuckets(t *Throttle) *buckets {
	return &buckets{throttle: t, now: time.Now, by: map[string]*bucket{}}
}

// allow takes a token from routeKey's bucket; false means the request is
// throttled. A full bucket holds Burst tokens and refills at Rate per second.
func (b *buckets) allow(routeKey string) bool {
	l, ok := b.throttle.limit(routeKey)
	if !ok {
		return true
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.by[routeKey]
	if bk == nil {
		bk = &bucket{limit: l, tokens: float64(l.Burst), last: now}
		b.by[routeKey] = bk
	}
	elapsed := now.Sub(bk.last).Seconds()
	bk.last = now
	bk.tokens = math.Min(float64(l.Burst), bk.tokens+max(elapsed, 0)*l.Rate)
	if bk.tokens < 1 {
		return false
	}
	bk.tokens--
	return true
}
