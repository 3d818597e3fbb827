package chat

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanDisplayName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ann", "Ann"},
		{"  Ann   Lee \t\n", "Ann Lee"},
		{"\u202eevil\u202c", "evil"},      // right-to-left override
		{"A\u200bnn\u200d\ufeff", "Ann"},  // zero-width space, joiner, BOM
		{"\u2066Ann\u2069 \u200f", "Ann"}, // isolates, RLM
		{"a\u00adb", "ab"},                // soft hyphen
		{"\u3164\u115f", ""},              // Hangul fillers: nothing visible
		{"x\u2800y", "xy"},                // braille blank
		{"e\u0301\u0301\u0301\u0301\u0301", "e\u0301\u0301\u0301"}, // stacked marks cut to 3
		{"line\u2028break", "line break"},
		{"bad\xffutf8", "badutf8"},
		{"\x00\x1b[31mred", "[31mred"},
		{"Ünïcødé 名前", "Ünïcødé 名前"},
	}
	for _, tt := range tests {
		if got := CleanDisplayName(tt.in); got != tt.want {
			t.Errorf("CleanDisplayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := CleanDisplayName(strings.Repeat("ab ", 100))
	if n := utf8.RuneCountInString(long); n > MaxDisplayNameRunes || strings.HasSuffix(long, " ") {
		t.Errorf("long name: %d runes %q, want at most %d, trimmed", n, long, MaxDisplayNameRunes)
	}
	for _, in := range []string{"\u202eevil", "a  b", strings.Repeat("x", 200)} {
		once := CleanDisplayName(in)
		if CleanDisplayName(once) != once {
			t.Errorf("CleanDisplayName is not idempotent on %q", in)
		}
	}
}

func TestReservedNamesMarkLookAlikes(t *testing.T) {
	r := NewReservedNames("Orders", "Billing Bot")
	marked := []string{
		"server", "Server", "SERVER", "ѕerver", "serv\u200ber", "s e r v e r", "ｓｅｒｖｅｒ",
		"Orders", "orders", "0rders", "Оrders", "Or\u202eders", "Orders ", "𝐎𝐫𝐝𝐞𝐫𝐬", "Ordеrs", "Οrdеrs",
		"BilIing Bot", "Billing-Bot", "Bi11ing Bot",
	}
	for _, name := range marked {
		got := r.UserDisplayName(name, "u1")
		if !strings.HasSuffix(got, UserMark) {
			t.Errorf("UserDisplayName(%q) = %q, want it marked %q", name, got, UserMark)
		}
	}
	for _, name := range []string{"Ann", "Order", "Orders team", "serverless fan", "Bill"} {
		if got := r.UserDisplayName(name, "u1"); got != CleanDisplayName(name) {
			t.Errorf("UserDisplayName(%q) = %q, want it unmarked", name, got)
		}
	}
	if got := r.UserDisplayName("\u200b", "ann"); got != "ann" {
		t.Errorf("an invisible name shows the user id: %q", got)
	}
	r = NewReservedNames(strings.Repeat("x", MaxDisplayNameRunes))
	if got := r.UserDisplayName(strings.Repeat("x", MaxDisplayNameRunes), "u"); utf8.RuneCountInString(got) > MaxDisplayNameRunes || !strings.HasSuffix(got, UserMark) {
		t.Errorf("a long marked name: %q, want at most %d runes ending in the mark", got, MaxDisplayNameRunes)
	}
}
