package main

import (
	"testing"

	"github.com/wschat/wschat/wire/events"
)

func TestCheck(t *testing.T) {
	f := New(func(k string) string {
		return map[string]string{"WORDFILTER_BLOCK": "spam, Scam", "WORDFILTER_MASK": "darn,heck"}[k]
	})
	for _, tt := range []struct {
		text, verdict, out string
	}{
		{"hello there", events.Allow, ""},
		{"buy SPAM now", events.Reject, ""},
		{"a scam!", events.Reject, ""},
		{"spammer is fine", events.Allow, ""},
		{"Darn it, what the heck", events.Replace, "**** it, what the ****"},
		{"darnation", events.Allow, ""},
		{"héllo darn ünïcode", events.Replace, "héllo **** ünïcode"},
	} {
		v, err := f.Check(t.Context(), events.BeforeSend{Text: tt.text})
		if err != nil || v.Verdict != tt.verdict || v.Text != tt.out || v.Check() != nil {
			t.Errorf("%q: %+v, %v; want %s %q", tt.text, v, err, tt.verdict, tt.out)
		}
	}
}
