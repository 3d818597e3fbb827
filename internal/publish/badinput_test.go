package publish_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/contract"
)

// TestBadRequests: every refused request gets the right status and code,
// a JSON error body, and stores and posts nothing.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	e.connect("a1", "ann", "general")
	user := func(route, id, body string) events.APIGatewayV2HTTPRequest {
		return request(route, map[string]string{"userId": id}, body)
	}
	noIdentity := channelMsg("general", `{"text":"hi","id":"x"}`)
	noIdentity.RequestContext.Authorizer = nil
	badARN := channelMsg("general", `{"text":"hi","id":"x"}`)
	badARN.RequestContext.Authorizer.IAM.UserARN = "not-an-arn"
	b64bad := channelMsg("general", "!!!")
	b64bad.IsBase64Encoded = true
	b64long := channelMsg("general", base64.StdEncoding.EncodeToString([]byte(`{"text":"`+strings.Repeat("x", 4001)+`","id":"x"}`)))
	b64long.IsBase64Encoded = true

	tests := []struct {
		name   string
		ev     events.APIGatewayV2HTTPRequest
		status int
		code   string
	}{
		{"channel with upper case", channelMsg("General", `{"text":"hi","id":"x"}`), 400, "invalid_field"},
		{"channel with #", channelMsg("a#b", `{"text":"hi","id":"x"}`), 400, "invalid_field"},
		{"channel too long", channelMsg(strings.Repeat("a", 65), `{"text":"hi","id":"x"}`), 400, "invalid_field"},
		{"empty channel", channelMsg("", `{"text":"hi","id":"x"}`), 400, "invalid_field"},
		{"not JSON", channelMsg("general", `text=hi`), 400, "invalid_json"},
		{"JSON array", channelMsg("general", `["hi"]`), 400, "invalid_json"},
		{"empty body", channelMsg("general", ``), 400, "invalid_json"},
		{"duplicate key", channelMsg("general", `{"text":"hi","text":"ho","id":"x"}`), 400, "invalid_json"},
		{"trailing data", channelMsg("general", `{"text":"hi","id":"x"} {}`), 400, "invalid_json"},
		{"invalid UTF-8", channelMsg("general", "{\"text\":\"\xff\",\"id\":\"x\"}"), 400, "invalid_json"},
		{"missing text", channelMsg("general", `{"id":"x"}`), 400, "invalid_field"},
		{"text not a string", channelMsg("general", `{"text":42,"id":"x"}`), 400, "invalid_field"},
		{"blank text", channelMsg("general", `{"text":"  \n","id":"x"}`), 400, "invalid_field"},
		{"missing id", channelMsg("general", `{"text":"hi"}`), 400, "invalid_field"},
		{"id with a space", channelMsg("general", `{"text":"hi","id":"a b"}`), 400, "invalid_field"},
		{"id too long", channelMsg("general", `{"text":"hi","id":"`+strings.Repeat("i", 65)+`"}`), 400, "invalid_field"},
		{"unknown field", channelMsg("general", `{"text":"hi","id":"x","channel":"other"}`), 400, "invalid_field"},
		{"text too long", channelMsg("general", `{"text":"`+strings.Repeat("é", 4001)+`","id":"x"}`), 413, "too_large"},
		{"text too long, base64 body", b64long, 413, "too_large"},
		{"body over 64 KiB", channelMsg("general", `{"text":"hi","id":"x","pad":"`+strings.Repeat(" ", 64*1024)+`"}`), 413, "too_large"},
		{"bad base64", b64bad, 400, "invalid_json"},
		{"notice: user id with #", user(contract.PublishRouteUserMessage, "ann#x", `{"text":"hi"}`), 400, "invalid_field"},
		{"notice: empty user id", user(contract.PublishRouteUserMessage, "", `{"text":"hi"}`), 400, "invalid_field"},
		{"notice: control character in user id", user(contract.PublishRouteUserMessage, "ann\n", `{"text":"hi"}`), 400, "invalid_field"},
		// The one user id rule (wire.CheckUserID), as at $connect:
		{"notice: no-break space in user id", user(contract.PublishRouteUserMessage, "ann\u00a0x", `{"text":"hi"}`), 400, "invalid_field"},
		{"notice: zero-width space in user id", user(contract.PublishRouteUserMessage, "a\u200bnn", `{"text":"hi"}`), 400, "invalid_field"},
		{"notice: the backend's own id", user(contract.PublishRouteUserMessage, "server", `{"text":"hi"}`), 400, "invalid_field"},
		{"disconnect: user id too long", user(contract.PublishRouteUserConnections, strings.Repeat("u", 129), ""), 400, "invalid_field"},
		{"notice: missing text", user(contract.PublishRouteUserMessage, "ann", `{"id":"n1"}`), 400, "invalid_field"},
		{"notice: bad id", user(contract.PublishRouteUserMessage, "ann", `{"text":"hi","id":"a/b"}`), 400, "invalid_field"},
		{"disconnect: a body", user(contract.PublishRouteUserConnections, "ann", `{"reason":"x"}`), 400, "invalid_field"},
		{"disconnect: user id too long", user(contract.PublishRouteUserConnections, strings.Repeat("u", 129), ""), 400, "invalid_field"},
		{"unknown route", request("GET /channels/{channel}/messages", map[string]string{"channel": "general"}, ""), 404, "not_found"},
		{"no IAM identity", noIdentity, 403, "forbidden"},
		{"unparsable principal", badARN, 403, "forbidden"},
	}
	if len(tests) < 15 {
		t.Fatalf("only %d bad requests; the issue asks for at least 15", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.db.Reset()
			status, body := e.do(tt.ev)
			if status != tt.status || body["code"] != tt.code {
				t.Errorf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("error body %v has no message", body)
			}
			if st := e.db.Stats(); len(st.WritePKs) != 0 {
				t.Errorf("a refused request wrote %v, want nothing stored", st.WritePKs)
			}
			if got := e.gw.received("a1"); len(got) != 0 {
				t.Errorf("a refused request posted %v", got)
			}
		})
	}
}
