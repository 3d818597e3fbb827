package wire

import (
	"strings"
	"testing"
	"time"
)

func TestEncodeLifecycle(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	edited := at.Add(time.Second)
	tests := []struct {
		event Event
		want  string
	}{
		{Update{Channel: "general", UpdateEntry: UpdateEntry{Seq: 50, Action: UpdateEdit, Target: 42, UserID: "u1", UserName: "Ann", ClientID: "e1", At: at},
			Message: Entry{Seq: 42, UserID: "u1", UserName: "Ann", Text: "fixed", ClientID: "c1", SentAt: at, Rev: 50, EditedAt: &edited}},
			`{"type":"update","channel":"general","seq":50,"action":"edit","target":42,"userId":"u1","userName":"Ann","clientId":"e1","at":"2026-01-02T03:04:05.006Z",` +
				`"message":{"seq":42,"userId":"u1","userName":"Ann","text":"fixed","clientId":"c1","sentAt":"2026-01-02T03:04:05.006Z","rev":50,"editedAt":"2026-01-02T03:04:06.006Z"}}`},
		{Update{Channel: "general", UpdateEntry: UpdateEntry{Seq: 51, Action: UpdateReact, Target: 42, UserID: "u2", UserName: "Bo", Emoji: "👍", At: at},
			Message: Entry{Seq: 42, UserID: "u1", UserName: "Ann", Text: "", ClientID: "c1", SentAt: at, Rev: 51, Deleted: true, Reactions: []Reaction{{Emoji: "👍", Count: 2}}, Replies: 3}},
			`{"type":"update","channel":"general","seq":51,"action":"react","target":42,"userId":"u2","userName":"Bo","emoji":"👍","at":"2026-01-02T03:04:05.006Z",` +
				`"message":{"seq":42,"userId":"u1","userName":"Ann","text":"","clientId":"c1","sentAt":"2026-01-02T03:04:05.006Z","rev":51,"deleted":true,"reactions":[{"emoji":"👍","count":2}],"replies":3}}`},
		{Message{Channel: "general", Entry: Entry{Seq: 43, UserID: "u2", UserName: "Bo", Text: "re", ClientID: "c2", SentAt: at, ReplyTo: 42},
			Parent: &Entry{Seq: 42, UserID: "u1", UserName: "Ann", Text: "q", ClientID: "c1", SentAt: at, Rev: 43, Replies: 1}},
			`{"type":"message","channel":"general","seq":43,"userId":"u2","userName":"Bo","text":"re","clientId":"c2","sentAt":"2026-01-02T03:04:05.006Z","replyTo":42,` +
				`"parent":{"seq":42,"userId":"u1","userName":"Ann","text":"q","clientId":"c1","sentAt":"2026-01-02T03:04:05.006Z","rev":43,"replies":1}}`},
		{Ack{Action: ActionEdit, Channel: "general", ClientID: "e1", Seq: 50},
			`{"type":"ack","action":"edit","channel":"general","clientId":"e1","seq":50}`},
		{TypingEvent{Channel: "general", UserID: "u1", UserName: "Ann", At: at, ExpiresIn: 6000},
			`{"type":"typing","channel":"general","userId":"u1","userName":"Ann","at":"2026-01-02T03:04:05.006Z","expiresIn":6000}`},
		{ReadEvent{Channel: "general", UserID: "u1", UserName: "Ann", Seq: 42, At: at},
			`{"type":"read","channel":"general","userId":"u1","userName":"Ann","seq":42,"at":"2026-01-02T03:04:05.006Z"}`},
		{ChannelList{}, `{"type":"channels","channels":[]}`},
		{ChannelList{Channels: []ChannelInfo{{Channel: "general", LastSeq: 57, LastRead: 50, Unread: 3,
			Last: &Entry{Seq: 57, UserID: "u2", UserName: "Bo", Text: "hi", ClientID: "c9", SentAt: at}}}},
			`{"type":"channels","channels":[{"channel":"general","lastSeq":57,"lastRead":50,"unread":3,"last":{"seq":57,"userId":"u2","userName":"Bo","text":"hi","clientId":"c9","sentAt":"2026-01-02T03:04:05.006Z"}}]}`},
		{HistoryPage{Channel: "general", Next: 60, Through: 60, Updates: []UpdateEntry{{Seq: 60, Action: UpdateDelete, Target: 42, UserID: "u1", UserName: "Ann", At: at}},
			States: []Entry{{Seq: 42, UserID: "u1", UserName: "Ann", ClientID: "c1", SentAt: at, Rev: 60, Deleted: true}}},
			`{"type":"history","channel":"general","messages":[],"more":false,"next":60,"after":0,"oldest":0,"truncated":false,"through":60,` +
				`"updates":[{"seq":60,"action":"delete","target":42,"userId":"u1","userName":"Ann","at":"2026-01-02T03:04:05.006Z"}],` +
				`"states":[{"seq":42,"userId":"u1","userName":"Ann","text":"","clientId":"c1","sentAt":"2026-01-02T03:04:05.006Z","rev":60,"deleted":true}]}`},
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

func TestEncodeLifecycleRequests(t *testing.T) {
	tests := []struct {
		r    Request
		want string
	}{
		{&Edit{Channel: "general", Seq: 42, Text: "fixed", ClientID: "e1"}, `{"action":"edit","channel":"general","seq":42,"text":"fixed","clientId":"e1"}`},
		{&Delete{Channel: "general", Seq: 42, ClientID: "d1"}, `{"action":"delete","channel":"general","seq":42,"clientId":"d1"}`},
		{&React{Channel: "general", Seq: 42, Emoji: "👍"}, `{"action":"react","channel":"general","seq":42,"emoji":"👍"}`},
		{&Unreact{Channel: "general", Seq: 42, Emoji: ":tada:", ClientID: "x"}, `{"action":"unreact","channel":"general","seq":42,"emoji":":tada:","clientId":"x"}`},
		{&Typing{Channel: "general"}, `{"action":"typing","channel":"general"}`},
		{&Read{Channel: "general", Seq: 42}, `{"action":"read","channel":"general","seq":42}`},
		{&Channels{}, `{"action":"channels"}`},
		{&Send{Channel: "general", Text: "re", ClientID: "c2", ReplyTo: 42}, `{"action":"send","channel":"general","text":"re","clientId":"c2","replyTo":42}`},
		{&History{Channel: "general", Thread: 42}, `{"action":"history","channel":"general","thread":42}`},
	}
	for _, tt := range tests {
		got, err := EncodeRequest(tt.r)
		if err != nil || string(got) != tt.want {
			t.Errorf("EncodeRequest(%T) = %s, %v; want %s", tt.r, got, err, tt.want)
		}
		ch, _, _ := Echo(tt.r)
		if _, ok := tt.r.(*Channels); !ok && ch != "general" {
			t.Errorf("Echo(%T) channel = %q, want general", tt.r, ch)
		}
	}
}

func TestValidEmoji(t *testing.T) {
	good := []string{
		"👍", "👍🏽", "❤️", "❤", "🎉", "😀", "🏳️‍🌈", "👨‍👩‍👧‍👦", "🇫🇷", "#️⃣", "1⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "☕", "✅", "⭐",
		":tada:", ":+1:", ":thumbs_up:", ":a:", ":" + strings.Repeat("x", 30) + ":",
	}
	for _, e := range good {
		if !ValidEmoji(e) {
			t.Errorf("ValidEmoji(%q) = false, want true", e)
		}
	}
	bad := []string{
		"", "a", "ok", "1", "#", " 👍", "👍 ", "👍👍", "👍a", "\u200d", "👍\u200d", "\u200d👍", "🏽", "\ufe0f", "🇫", "🇫🇷🇩",
		"::", ":Tada:", ":ta da:", ":tada", "tada:", ":" + strings.Repeat("x", 31) + ":", "<b>", "\x00", "\xff",
		strings.Repeat("👍\u200d", 8) + "👍",
	}
	for _, e := range bad {
		if ValidEmoji(e) {
			t.Errorf("ValidEmoji(%q) = true, want false", e)
		}
	}
}
