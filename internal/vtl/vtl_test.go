package vtl

import (
	"errors"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	ctx := map[string]string{"connectionId": "abc=", "stage": "dev", "authorizer.userId": "u1"}
	tests := []struct{ src, want string }{
		{`{"type":"pong","connectionId":"$context.connectionId"}`, `{"type":"pong","connectionId":"abc="}`},
		{`${context.stage}-x`, `dev-x`},
		{`{"statusCode": 200}`, `{"statusCode": 200}`},
		{`user $context.authorizer.userId, none "$context.authorizer.nope"`, `user u1, none ""`},
		{`costs $5 and $ more`, `costs $5 and $ more`},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := tpl.Render(ctx); got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// TestRefusesWhatItCannotServe: every construct outside the subset is an
// error that names it, never served differently from API Gateway.
func TestRefusesWhatItCannotServe(t *testing.T) {
	for _, src := range []string{
		`#set($x = 1)`,
		`## a comment`,
		`$input.json('$')`,
		`$util.escapeJavaScript("x")`,
		`$stageVariables.x`,
		`$!{context.connectionId}`,
		`\$context.connectionId`,
		`$context.nope`,
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", src)
		} else if !strings.Contains(err.Error(), "not") {
			t.Errorf("Parse(%q): %v, want it to say what is not emulated", src, err)
		}
	}
}

func TestSelectionKey(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`\$default`, "$default"}, {`$default`, "$default"}, {"", "$default"}, {"200", "200"},
	}
	for _, tt := range tests {
		if got, err := SelectionKey(tt.expr); err != nil || got != tt.want {
			t.Errorf("SelectionKey(%q) = %q, %v; want %q", tt.expr, got, err, tt.want)
		}
	}
	if _, err := SelectionKey(`${request.body.action}`); !errors.Is(err, ErrVariableSelection) {
		t.Errorf("a variable selection: %v, want ErrVariableSelection", err)
	}
}

func TestResponseKey(t *testing.T) {
	k, err := ParseResponseKey(`/2\d\d/`)
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]bool{"200": true, "204": true, "400": false, "2000": false} {
		if k.Matches(status) != want {
			t.Errorf("/2\\d\\d/ matches %s = %v, want %v", status, !want, want)
		}
	}
	if d, _ := ParseResponseKey("$default"); d.Matches("200") {
		t.Error("$default matched a status; it is only the fallback")
	}
	for _, bad := range []string{"200", "/", "/(/"} {
		if _, err := ParseResponseKey(bad); err == nil {
			t.Errorf("ParseResponseKey(%q) succeeded", bad)
		}
	}
}
