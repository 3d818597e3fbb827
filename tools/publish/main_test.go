package main

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"-channel", "general", "-text", "hi"}, false},
		{[]string{"-verb", "notify", "-to", "ann", "-text", "hi"}, false},
		{[]string{"-verb", "disconnect", "-to", "ann"}, false},
		{[]string{"-channel", "general"}, true},
		{[]string{"-verb", "notify", "-text", "hi"}, true},
		{[]string{"-verb", "disconnect"}, true},
		{[]string{"-verb", "shout", "-to", "ann"}, true},
		{[]string{"-verb", "private", "-channel", "board", "-members", "ann,bob"}, false},
		{[]string{"-verb", "private", "-channel", "board"}, true},
		{[]string{"-verb", "add-member", "-channel", "board", "-to", "carol"}, false},
		{[]string{"-verb", "remove-member", "-channel", "board"}, true},
		{[]string{"-verb", "members", "-channel", "board", "-cursor", "x"}, false},
		{[]string{"-verb", "members"}, true},
		{[]string{"-verb", "revoke", "-to", "ann", "-until", "2026-12-01T00:00:00Z"}, false},
		{[]string{"-verb", "revoke", "-to", "ann", "-until", "tomorrow"}, true},
		{[]string{"-verb", "revoke"}, true},
	}
	for _, tt := range tests {
		if _, err := parse(tt.args); (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}
