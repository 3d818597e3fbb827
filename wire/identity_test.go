package wire

import (
	"strings"
	"testing"
)

func TestCheckUserID(t *testing.T) {
	good := []string{"ann", "user-ann", "a1b2c3d4-0000-4000-8000-1234567890ab", "ann@example.com", "ann.b_c:d|e", "Ännchen", strings.Repeat("x", MaxUserIDBytes)}
	for _, id := range good {
		if err := CheckUserID(id); err != nil {
			t.Errorf("CheckUserID(%q) = %v, want nil", id, err)
		}
	}
	bad := map[string]string{
		"":                                    "empty",
		strings.Repeat("x", MaxUserIDBytes+1): "more than 128",
		"a/b":                                 "'/'",
		"CHAN#x":                              "'#'",
		"a b":                                 "whitespace",
		"a\u00a0b":                            "whitespace",
		"a\tb":                                "whitespace",
		"a\x00b":                              "control",
		"a\u200bb":                            "invisible",
		"\u202eann":                           "invisible",
		"a\ufffdb":                            "invisible or control",
		"a\xffb":                              "not valid UTF-8",
		"server":                              "reserved",
		"Server":                              "reserved",
	}
	for id, want := range bad {
		err := CheckUserID(id)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckUserID(%q) = %v, want an error with %q", id, err, want)
		}
	}
}
