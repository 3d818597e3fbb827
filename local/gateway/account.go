package gateway

import (
	"net/http"
	"sync/atomic"
)

// accountRouteKey names the account-wide bucket of @connections calls.
const accountRouteKey = "@connections"

// accountLimiter is API Gateway's account-level throttle as it applies to
// the @connections management API: one token bucket for every POST, GET and
// DELETE (about 10,000 requests/s with a burst of 5,000 on AWS), beyond
// which calls answer 429 TooManyRequestsException.
type accountLimiter struct {
	buckets   *buckets
	throttled atomic.Int64
}

func newAccountLimiter(l *Limit) *accountLimiter {
	if l == nil {
		return nil
	}
	return &accountLimiter{buckets: newBuckets(&Throttle{Default: l})}
}

// wrap answers 429 to a management call over the account's rate.
func (a *accountLimiter) wrap(h http.HandlerFunc) http.HandlerFunc {
	if a == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.buckets.allow(accountRouteKey) {
			a.throttled.Add(1)
			apiError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Too Many Requests")
			return
		}
		h(w, r)
	}
}

// Throttled returns how many @connections calls the account limit refused.
func (g *Gateway) Throttled() int64 {
	if g.account == nil {
		return 0
	}
	return g.account.throttled.Load()
}
