package handler

import (
	"errors"
	"testing"

	"github.com/wschat/wschat/internal/protocol"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name string
		text string
		want protocol.Code // "" = accepted
	}{
		{"plain", "hello", ""},
		{"tab, newlines", "a\tb\nc\r\nd", ""},
		{"emoji and accents", "héllo 👋", ""},
		{"U+FFFD itself is text", "\uFFFD", ""},
		{"lone 0xff", "a\xffb", protocol.CodeInvalidJSON},
		{"overlong slash", "\xc0\xaf", protocol.CodeInvalidJSON},
		{"CESU-8 surrogate", "\xed\xa0\x80", protocol.CodeInvalidJSON},
		{"NUL", "a\x00b", protocol.CodeInvalidField},
		{"escape", "\x1b[31mred", protocol.CodeInvalidField},
		{"DEL", "a\x7f", protocol.CodeInvalidField},
		{"C1 NEL", "a\u0085b", protocol.CodeInvalidField},
		{"C1 CSI", "\u009b31m", protocol.CodeInvalidField},
	}
	for _, tt := range tests {
		err := checkText(tt.text)
		var perr *protocol.Error
		got := protocol.Code("")
		if errors.As(err, &perr) {
			got = perr.Code
		} else if err != nil {
			t.Fatalf("%s: %v is not a protocol error", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: checkText(%q) = %q, want %q", tt.name, tt.text, got, tt.want)
		}
	}
}
