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
	}
	for _, tt := range tests {
		if _, err := parse(tt.args); (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}
