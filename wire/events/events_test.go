package events

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSchemasMatchTheTypes keeps the Go types and the JSON Schemas one
// contract: every detail type has a schema whose properties are exactly the
// type's JSON fields and whose required list is exactly its fields without
// omitempty. (That real events validate against the schemas is checked
// where they are produced: internal/handler and the emulator's end-to-end
// test.)
func TestSchemasMatchTheTypes(t *testing.T) {
	for _, dt := range Types {
		d, err := New(dt)
		if err != nil {
			t.Fatal(err)
		}
		if d.DetailType() != dt {
			t.Errorf("New(%q).DetailType() = %q", dt, d.DetailType())
		}
		raw, err := Schema(dt)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Title                string                     `json:"title"`
			Properties           map[string]json.RawMessage `json:"properties"`
			Required             []string                   `json:"required"`
			AdditionalProperties *bool                      `json:"additionalProperties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s schema: %v", dt, err)
		}
		if s.Title != dt || s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("%s schema: title %q, additionalProperties %v; want the detail-type and false", dt, s.Title, s.AdditionalProperties)
		}
		fields, required := jsonFields(reflect.TypeOf(d).Elem())
		props := slices.Sorted(func(yield func(string) bool) {
			for k := range s.Properties {
				if !yield(k) {
					return
				}
			}
		})
		slices.Sort(fields)
		slices.Sort(required)
		slices.Sort(s.Required)
		if !slices.Equal(props, fields) {
			t.Errorf("%s: schema properties %v, Go fields %v", dt, props, fields)
		}
		if !slices.Equal(s.Required, required) {
			t.Errorf("%s: schema requires %v, Go fields without omitempty %v", dt, s.Required, required)
		}
	}
	if _, err := Schema("nope.v1"); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Schema(nope.v1) = %v, want ErrUnknownType", err)
	}
}

// jsonFields lists the JSON names of t's fields (embedded structs flattened)
// and those without omitempty.
func jsonFields(t reflect.Type) (all, required []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			a, r := jsonFields(f.Type)
			all, required = append(all, a...), append(required, r...)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	return all, required
}

func TestDecode(t *testing.T) {
	body := `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"message.created.v1","source":"wschat",
	"account":"111122223333","time":"2026-11-26T20:30:05Z","region":"eu-west-1","resources":[],
	"detail":{"eventId":"e1","channel":"general","seq":42,"clientId":"c1","userId":"u1","userName":"Ann","text":"hi","textLength":2,"sentAt":"2026-11-26T20:30:05.123Z"}}`
	ev, d, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := d.(*MessageCreated)
	if !ok || ev.Source != "wschat" || m.Seq != 42 || m.UserName != "Ann" || m.Text == nil || *m.Text != "hi" ||
		!m.SentAt.Equal(time.Date(2026, 11, 26, 20, 30, 5, 123e6, time.UTC)) {
		t.Errorf("Decode = %+v, %#v", ev, d)
	}
	_, _, err = Decode([]byte(`{"detail-type":"message.edited.v9","detail":{}}`))
	if !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v, want ErrUnknownType", err)
	}
	if _, _, err := Decode([]byte(`{"detail-type":"member.joined.v1","detail":{"channel":1}}`)); err == nil {
		t.Error("a detail of the wrong shape decoded")
	}
}

func TestVerdictCheck(t *testing.T) {
	for _, tt := range []struct {
		v  Verdict
		ok bool
	}{
		{Verdict{Verdict: Allow}, true},
		{Verdict{Verdict: Reject, Reason: "no links"}, true},
		{Verdict{Verdict: Reject}, true},
		{Verdict{Verdict: Reject, Reason: strings.Repeat("x", MaxReasonRunes+1)}, false},
		{Verdict{Verdict: Replace, Text: "***"}, true},
		{Verdict{Verdict: Replace}, false},
		{Verdict{}, false},
		{Verdict{Verdict: "ALLOW"}, false},
	} {
		if err := tt.v.Check(); (err == nil) != tt.ok {
			t.Errorf("%+v.Check() = %v, want ok %v", tt.v, err, tt.ok)
		}
	}
}

// TestStandardWebhooksVector signs and verifies the test vector published
// with the Standard Webhooks specification and its reference libraries: a
// receiver using any of them accepts what the stack sends.
func TestStandardWebhooksVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	key, err := WebhookKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, id, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, "v1,bm9wZQ== "+want) // several signatures (key rotation)
	if err := Verify(secret, h, body, ts.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := Verify(strings.TrimPrefix(secret, SecretPrefix), h, body, ts, 0); err != nil {
		t.Errorf("Verify without the whsec_ prefix: %v", err)
	}
	bad := []struct {
		name   string
		secret string
		body   string
		now    time.Time
		header func(http.Header)
	}{
		{"tampered body", secret, `{"test": 2432232315}`, ts, nil},
		{"other secret", "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", string(body), ts, nil},
		{"replayed late", secret, string(body), ts.Add(6 * time.Minute), nil},
		{"from the future", secret, string(body), ts.Add(-6 * time.Minute), nil},
		{"other id", secret, string(body), ts, func(h http.Header) { h.Set(HeaderWebhookID, "msg_other") }},
		{"no signature", secret, string(body), ts, func(h http.Header) { h.Del(HeaderWebhookSignature) }},
		{"v2 only", secret, string(body), ts, func(h http.Header) { h.Set(HeaderWebhookSignature, "v2,"+want[3:]) }},
	}
	for _, b := range bad {
		h2 := h.Clone()
		if b.header != nil {
			b.header(h2)
		}
		if err := Verify(b.secret, h2, []byte(b.body), b.now, 0); err == nil {
			t.Errorf("%s: verified", b.name)
		}
	}
	if _, err := WebhookKey("whsec_c2hvcnQ="); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}
