package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/wschat/wschat/wire"
)

// FuzzDecode checks that Decode never panics, is deterministic, and that what
// it accepts is valid: a known action with fields inside their limits.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"action":"join","channel":"general"}`,
		`{"action":"leave","channel":"general"}`,
		`{"action":"send","channel":"general","text":"hi","clientId":"c1"}`,
		`{"action":"history","channel":"general","after":41,"limit":50}`,
		`{"action":"members","channel":"general","cursor":"abc"}`,
		`{"action":"ping"}`,
		`{"action":"edit","channel":"general","seq":4,"text":"x","clientId":"e"}`,
		`{"action":"react","channel":"general","seq":4,"emoji":"👍"}`,
		`{"action":"read","channel":"general","seq":4}`,
		`{"action":"ping","action":"ping"}`,
		`{"action":"send","text":"\ud800"}`,
		`[]`, `null`, `{`, `{"a":}`, "\xff",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, tt := range badInputs {
		if len(tt.in) < 1024 {
			f.Add([]byte(tt.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r1, err1 := Decode(data)
		r2, err2 := Decode(data)
		if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("Decode(%q) is not deterministic: (%#v, %v) then (%#v, %v)", data, r1, err1, r2, err2)
		}
		if (r1 == nil) == (err1 == nil) {
			t.Fatalf("Decode(%q) = (%#v, %v): want exactly one of request and error", data, r1, err1)
		}
		if err1 != nil {
			var perr *Error
			if !errors.As(err1, &perr) || !slices.Contains(Codes, perr.Code) || perr.Message == "" {
				t.Fatalf("Decode(%q) error %#v is not a *Error with a known code and a message", data, err1)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("Decode(%q) accepted invalid JSON", data)
		}
		switch r := r1.(type) {
		case *Join:
			mustChannel(t, r.Channel)
		case *Leave:
			mustChannel(t, r.Channel)
		case *Send:
			mustChannel(t, r.Channel)
			if r.Text == "" || utf8.RuneCountInString(r.Text) > MaxTextRunes || !ValidClientID(r.ClientID) {
				t.Fatalf("Decode accepted send %#v", r)
			}
		case *History:
			mustChannel(t, r.Channel)
			if r.After < 0 || r.After > MaxSeq || r.Limit < 1 || r.Limit > MaxHistoryLimit {
				t.Fatalf("Decode accepted history %#v", r)
			}
		case *Members:
			mustChannel(t, r.Channel)
		case *Ping, *Channels:
		case *Edit:
			mustChannel(t, r.Channel)
			if r.Seq < 1 || r.Text == "" || !ValidClientID(r.ClientID) {
				t.Fatalf("Decode accepted edit %#v", r)
			}
		case *Delete:
			mustChannel(t, r.Channel)
			if r.Seq < 1 || !ValidClientID(r.ClientID) {
				t.Fatalf("Decode accepted delete %#v", r)
			}
		case *React:
			mustChannel(t, r.Channel)
			if r.Seq < 1 || !wire.ValidEmoji(r.Emoji) {
				t.Fatalf("Decode accepted react %#v", r)
			}
		case *Unreact:
			mustChannel(t, r.Channel)
			if r.Seq < 1 || !wire.ValidEmoji(r.Emoji) {
				t.Fatalf("Decode accepted unreact %#v", r)
			}
		case *Typing:
			mustChannel(t, r.Channel)
		case *Read:
			mustChannel(t, r.Channel)
			if r.Seq < 0 || r.Seq > MaxSeq {
				t.Fatalf("Decode accepted read %#v", r)
			}
		default:
			t.Fatalf("Decode returned unexpected %T", r1)
		}
	})
}

func mustChannel(t *testing.T, c string) {
	t.Helper()
	if !ValidChannel(c) {
		t.Fatalf("Decode accepted channel %q", c)
	}
}
