package wire

import (
	"testing"
	"time"
)

func TestEncode(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		event Event
		want  string
	}{
		{Joined{Channel: "general", UserID: "u1", UserName: "Ann", At: at},
			`{"type":"joined","channel":"general","userId":"u1","userName":"Ann","at":"2026-01-02T03:04:05.006Z"}`},
		{Joined{Channel: "general", UserID: "u1", UserName: "Ann", At: at, LastSeq: new(int64)},
			`{"type":"joined","channel":"general","userId":"u1","userName":"Ann","at":"2026-01-02T03:04:05.006Z","lastSeq":0}`},
		{Left{Channel: "general", UserID: "u1", UserName: "Ann", At: at},
			`{"type":"left","channel":"general","userId":"u1","userName":"Ann","at":"2026-01-02T03:04:05.006Z"}`},
		{Message{Channel: "general", Entry: Entry{Seq: 42, UserID: "u1", UserName: "Ann", Text: "hi <b>", ClientID: "c1", SentAt: at}},
			`{"type":"message","channel":"general","seq":42,"userId":"u1","userName":"Ann","text":"hi \u003cb\u003e","clientId":"c1","sentAt":"2026-01-02T03:04:05.006Z"}`},
		{Message{Channel: "general", Entry: Entry{Seq: 43, UserID: "server", UserName: "Orders", Text: "shipped", ClientID: "o-1", From: "server", SentAt: at}},
			`{"type":"message","channel":"general","seq":43,"userId":"server","userName":"Orders","text":"shipped","clientId":"o-1","from":"server","sentAt":"2026-01-02T03:04:05.006Z"}`},
		{Notice{From: "server", UserName: "Orders", Text: "your order shipped", ID: "n1", At: at},
			`{"type":"notice","from":"server","userName":"Orders","text":"your order shipped","id":"n1","at":"2026-01-02T03:04:05.006Z"}`},
		{Ack{Channel: "general", ClientID: "c1", Seq: 42},
			`{"type":"ack","channel":"general","clientId":"c1","seq":42}`},
		{HistoryPage{Channel: "general", Next: 41},
			`{"type":"history","channel":"general","messages":[],"more":false,"next":41,"after":0,"oldest":0,"truncated":false,"through":0}`},
		{HistoryPage{Channel: "general", Next: 60, After: 3, Oldest: 10, Truncated: true, Through: 60},
			`{"type":"history","channel":"general","messages":[],"more":false,"next":60,"after":3,"oldest":10,"truncated":true,"through":60}`},
		{MembersPage{Channel: "general", Members: []Member{{UserID: "u1", UserName: "Ann", JoinedAt: at}}, Next: "abc"},
			`{"type":"members","channel":"general","members":[{"userId":"u1","userName":"Ann","joinedAt":"2026-01-02T03:04:05.006Z"}],"next":"abc"}`},
		{MembersPage{Channel: "general"},
			`{"type":"members","channel":"general","members":[]}`},
		{Pong{At: at}, `{"type":"pong","at":"2026-01-02T03:04:05.006Z"}`},
		{Pong{ConnectionID: "abc="}, `{"type":"pong","connectionId":"abc="}`},
		{ErrorEvent{Code: CodeNotMember, Message: "join general first", Action: "send", RequestID: "r1"},
			`{"type":"error","code":"not_member","message":"join general first","action":"send","requestId":"r1"}`},
		{ErrorEvent{Code: CodeInternal, Message: "retry", Action: "send", Channel: "general", ClientID: "c1"},
			`{"type":"error","code":"internal","message":"retry","action":"send","channel":"general","clientId":"c1"}`},
		{ErrorEvent{Code: CodeInvalidJSON, Message: "frame is not JSON"},
			`{"type":"error","code":"invalid_json","message":"frame is not JSON"}`},
	}
	for _, tt := range tests {
		got, err := Encode(tt.event)
		if err != nil {
			t.Fatalf("Encode(%T) error: %v", tt.event, err)
		}
		if string(got) != tt.want {
			t.Errorf("Encode(%T) =\n %s\nwant\n %s", tt.event, got, tt.want)
		}
	}
}
