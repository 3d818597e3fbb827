package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhooks are signed as Standard Webhooks (standardwebhooks.com) specify,
// so a receiver may verify them with this package, with any library of that
// specification, or with the dozen lines docs/events.md shows:
//
//	webhook-id:        the event's detail eventId (the same on every retry)
//	webhook-timestamp: when this attempt was signed, in Unix seconds
//	webhook-signature: v1,<base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// The key is the base64 decoding of the secret (kept in Secrets Manager),
// after an optional "whsec_" prefix. A receiver checks the signature in
// constant time and refuses a timestamp far from its clock, which bounds
// how long a captured request can be replayed.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	// SecretPrefix may precede a secret's base64 (the form Standard
	// Webhooks libraries expect).
	SecretPrefix = "whsec_"
	// DefaultTolerance is how far a webhook's timestamp may be from the
	// receiver's clock.
	DefaultTolerance = 5 * time.Minute
)

// ErrSignature is returned by Verify for a request that is not signed with
// the secret, or is stale.
var ErrSignature = errors.New("webhook signature does not verify")

// WebhookKey decodes a secret ("whsec_<base64>" or the bare base64).
func WebhookKey(secret string) ([]byte, error) {
	b64 := strings.TrimPrefix(secret, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 16 {
		return nil, errors.New("webhook secret: want base64 of at least 16 bytes, optionally after whsec_")
	}
	return key, nil
}

// Sign returns the webhook-signature value of body sent as message id at
// ts, signed with key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook request's headers and body against secret: one of
// the space-separated signatures must be a v1 signature of
// id.timestamp.body, and the timestamp within tolerance of now (0 means
// DefaultTolerance).
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := WebhookKey(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s", ErrSignature, HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrSignature)
	}
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-tolerance)) || ts.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: timestamp %s is outside %s of now", ErrSignature, ts.UTC().Format(time.RFC3339), tolerance)
	}
	want := []byte(Sign(key, id, ts, body))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrSignature
}
