package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
)

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
	}{
		{"join", `{"action":"join","channel":"general"}`, &Join{Channel: "general"}},
		{"join with ref", `{"action":"join","channel":"general","ref":"j-1:a.b"}`, &Join{Channel: "general", Ref: "j-1:a.b"}},
		{"leave", `{"action":"leave","channel":"a"}`, &Leave{Channel: "a"}},
		{"send", `{"action":"send","channel":"general","text":"hi","clientId":"c1"}`,
			&Send{Channel: "general", Text: "hi", ClientID: "c1"}},
		{"send with unicode and escapes", `{"action":"send","channel":"x-1","text":"h\u00e9 \"you\"\n","clientId":"0f8b:1"}`,
			&Send{Channel: "x-1", Text: "hé \"you\"\n", ClientID: "0f8b:1"}},
		{"send at the text limit", `{"action":"send","channel":"c","text":"` + strings.Repeat("é", MaxTextRunes) + `","clientId":"c"}`,
			&Send{Channel: "c", Text: strings.Repeat("é", MaxTextRunes), ClientID: "c"}},
		{"history defaults", `{"action":"history","channel":"general"}`,
			&History{Channel: "general", After: 0, Limit: DefaultHistoryLimit}},
		{"history bounds", `{"action":"history","channel":"general","after":41,"limit":100}`,
			&History{Channel: "general", After: 41, Limit: 100}},
		{"members", `{"action":"members","channel":"general"}`, &Members{Channel: "general"}},
		{"members with cursor", `{"action":"members","channel":"general","cursor":"abc"}`,
			&Members{Channel: "general", Cursor: "abc"}},
		{"ping", `{"action":"ping"}`, &Ping{}},
		{"send reply", `{"action":"send","channel":"general","text":"re","clientId":"c2","replyTo":42}`,
			&Send{Channel: "general", Text: "re", ClientID: "c2", ReplyTo: 42}},
		{"history of a thread", `{"action":"history","channel":"general","thread":42}`,
			&History{Channel: "general", Limit: DefaultHistoryLimit, Thread: 42}},
		{"edit", `{"action":"edit","channel":"general","seq":42,"text":"fixed","clientId":"e1"}`,
			&Edit{Channel: "general", Seq: 42, Text: "fixed", ClientID: "e1"}},
		{"delete", `{"action":"delete","channel":"general","seq":42,"clientId":"d1"}`,
			&Delete{Channel: "general", Seq: 42, ClientID: "d1"}},
		{"react", `{"action":"react","channel":"general","seq":42,"emoji":"👍🏽"}`,
			&React{Channel: "general", Seq: 42, Emoji: "👍🏽"}},
		{"react with clientId", `{"action":"react","channel":"general","seq":42,"emoji":":tada:","clientId":"r1"}`,
			&React{Channel: "general", Seq: 42, Emoji: ":tada:", ClientID: "r1"}},
		{"unreact", `{"action":"unreact","channel":"general","seq":42,"emoji":"👍"}`,
			&Unreact{Channel: "general", Seq: 42, Emoji: "👍"}},
		{"typing", `{"action":"typing","channel":"general"}`, &Typing{Channel: "general"}},
		{"read", `{"action":"read","channel":"general","seq":42}`, &Read{Channel: "general", Seq: 42}},
		{"read zero", `{"action":"read","channel":"general","seq":0}`, &Read{Channel: "general"}},
		{"channels", `{"action":"channels"}`, &Channels{}},
		{"whitespace around", " \r\n\t{ \"action\" : \"ping\" } \n", &Ping{}},
		{"longest channel", `{"action":"join","channel":"` + "a" + strings.Repeat("_", 63) + `"}`,
			&Join{Channel: "a" + strings.Repeat("_", 63)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode(%.60q) error = %v, want nil", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%.60q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// badInputs are the rejected frames, shared with the handler tests' intent:
// each must yield exactly this code.
var badInputs = []struct {
	name   string
	in     string
	code   Code
	action string
}{
	{"empty", ``, CodeInvalidJSON, ""},
	{"not json", `hello`, CodeInvalidJSON, ""},
	{"truncated", `{"action":"ping"`, CodeInvalidJSON, ""},
	{"null", `null`, CodeInvalidJSON, ""},
	{"array", `[{"action":"ping"}]`, CodeInvalidJSON, ""},
	{"string", `"ping"`, CodeInvalidJSON, ""},
	{"number", `42`, CodeInvalidJSON, ""},
	{"two objects", `{"action":"ping"}{"action":"ping"}`, CodeInvalidJSON, ""},
	{"trailing garbage", `{"action":"ping"} x`, CodeInvalidJSON, ""},
	{"duplicate key", `{"action":"ping","action":"join"}`, CodeInvalidJSON, ""},
	{"invalid utf8", "{\"action\":\"send\",\"channel\":\"a\",\"text\":\"\xff\",\"clientId\":\"c\"}", CodeInvalidJSON, ""},
	{"missing action", `{"channel":"general"}`, CodeInvalidField, ""},
	{"action number", `{"action":1}`, CodeInvalidField, ""},
	{"action null", `{"action":null}`, CodeInvalidField, ""},
	{"unknown action", `{"action":"shout"}`, CodeUnknownAction, ""},
	{"empty action", `{"action":""}`, CodeUnknownAction, ""},
	{"action case", `{"action":"Ping"}`, CodeUnknownAction, ""},
	{"unknown field", `{"action":"ping","x":1}`, CodeInvalidField, "ping"},
	{"field of another action", `{"action":"join","channel":"a","text":"hi"}`, CodeInvalidField, "join"},
	{"join missing channel", `{"action":"join"}`, CodeInvalidField, "join"},
	{"join ref empty", `{"action":"join","channel":"a","ref":""}`, CodeInvalidField, "join"},
	{"join ref number", `{"action":"join","channel":"a","ref":7}`, CodeInvalidField, "join"},
	{"join ref with space", `{"action":"join","channel":"a","ref":"a b"}`, CodeInvalidField, "join"},
	{"join ref too long", `{"action":"join","channel":"a","ref":"` + strings.Repeat("r", 65) + `"}`, CodeInvalidField, "join"},
	{"join empty channel", `{"action":"join","channel":""}`, CodeInvalidField, "join"},
	{"join channel number", `{"action":"join","channel":7}`, CodeInvalidField, "join"},
	{"join channel null", `{"action":"join","channel":null}`, CodeInvalidField, "join"},
	{"join channel object", `{"action":"join","channel":{}}`, CodeInvalidField, "join"},
	{"channel upper case", `{"action":"join","channel":"General"}`, CodeInvalidField, "join"},
	{"channel leading dash", `{"action":"join","channel":"-a"}`, CodeInvalidField, "join"},
	{"channel hash", `{"action":"join","channel":"a#b"}`, CodeInvalidField, "join"},
	{"channel space", `{"action":"leave","channel":"a b"}`, CodeInvalidField, "leave"},
	{"channel too long", `{"action":"join","channel":"` + strings.Repeat("a", 65) + `"}`, CodeInvalidField, "join"},
	{"channel unicode", `{"action":"join","channel":"é"}`, CodeInvalidField, "join"},
	{"send missing text", `{"action":"send","channel":"a","clientId":"c"}`, CodeInvalidField, "send"},
	{"send empty text", `{"action":"send","channel":"a","text":"","clientId":"c"}`, CodeInvalidField, "send"},
	{"send blank text", `{"action":"send","channel":"a","text":" \n\t","clientId":"c"}`, CodeInvalidField, "send"},
	{"send text number", `{"action":"send","channel":"a","text":5,"clientId":"c"}`, CodeInvalidField, "send"},
	{"send text array", `{"action":"send","channel":"a","text":["hi"],"clientId":"c"}`, CodeInvalidField, "send"},
	{"send text too long", `{"action":"send","channel":"a","text":"` + strings.Repeat("x", MaxTextRunes+1) + `","clientId":"c"}`, CodeTooLarge, "send"},
	{"send missing clientId", `{"action":"send","channel":"a","text":"hi"}`, CodeInvalidField, "send"},
	{"send empty clientId", `{"action":"send","channel":"a","text":"hi","clientId":""}`, CodeInvalidField, "send"},
	{"send clientId number", `{"action":"send","channel":"a","text":"hi","clientId":1}`, CodeInvalidField, "send"},
	{"send clientId hash", `{"action":"send","channel":"a","text":"hi","clientId":"a#b"}`, CodeInvalidField, "send"},
	{"send clientId too long", `{"action":"send","channel":"a","text":"hi","clientId":"` + strings.Repeat("c", 65) + `"}`, CodeInvalidField, "send"},
	{"send bad channel", `{"action":"send","channel":"A","text":"hi","clientId":"c"}`, CodeInvalidField, "send"},
	{"history after negative", `{"action":"history","channel":"a","after":-1}`, CodeInvalidField, "history"},
	{"history after fraction", `{"action":"history","channel":"a","after":1.5}`, CodeInvalidField, "history"},
	{"history after exponent", `{"action":"history","channel":"a","after":1e3}`, CodeInvalidField, "history"},
	{"history after string", `{"action":"history","channel":"a","after":"3"}`, CodeInvalidField, "history"},
	{"history after null", `{"action":"history","channel":"a","after":null}`, CodeInvalidField, "history"},
	{"history after huge", `{"action":"history","channel":"a","after":99999999999999999999}`, CodeInvalidField, "history"},
	{"history after above 2^53", `{"action":"history","channel":"a","after":9007199254740993}`, CodeInvalidField, "history"},
	{"history limit zero", `{"action":"history","channel":"a","limit":0}`, CodeInvalidField, "history"},
	{"history limit over max", `{"action":"history","channel":"a","limit":101}`, CodeInvalidField, "history"},
	{"history limit negative", `{"action":"history","channel":"a","limit":-5}`, CodeInvalidField, "history"},
	{"history limit bool", `{"action":"history","channel":"a","limit":true}`, CodeInvalidField, "history"},
	{"history missing channel", `{"action":"history"}`, CodeInvalidField, "history"},
	{"members cursor number", `{"action":"members","channel":"a","cursor":1}`, CodeInvalidField, "members"},
	{"members cursor empty", `{"action":"members","channel":"a","cursor":""}`, CodeInvalidField, "members"},
	{"members cursor too long", `{"action":"members","channel":"a","cursor":"` + strings.Repeat("c", MaxCursorLen+1) + `"}`, CodeInvalidField, "members"},
	{"send replyTo zero", `{"action":"send","channel":"a","text":"hi","clientId":"c","replyTo":0}`, CodeInvalidField, "send"},
	{"send replyTo string", `{"action":"send","channel":"a","text":"hi","clientId":"c","replyTo":"4"}`, CodeInvalidField, "send"},
	{"history thread negative", `{"action":"history","channel":"a","thread":-1}`, CodeInvalidField, "history"},
	{"edit missing seq", `{"action":"edit","channel":"a","text":"x","clientId":"c"}`, CodeInvalidField, "edit"},
	{"edit seq zero", `{"action":"edit","channel":"a","seq":0,"text":"x","clientId":"c"}`, CodeInvalidField, "edit"},
	{"edit seq fraction", `{"action":"edit","channel":"a","seq":1.5,"text":"x","clientId":"c"}`, CodeInvalidField, "edit"},
	{"edit blank text", `{"action":"edit","channel":"a","seq":1,"text":" ","clientId":"c"}`, CodeInvalidField, "edit"},
	{"edit text too long", `{"action":"edit","channel":"a","seq":1,"text":"` + strings.Repeat("x", MaxTextRunes+1) + `","clientId":"c"}`, CodeTooLarge, "edit"},
	{"edit missing clientId", `{"action":"edit","channel":"a","seq":1,"text":"x"}`, CodeInvalidField, "edit"},
	{"delete with text", `{"action":"delete","channel":"a","seq":1,"text":"x","clientId":"c"}`, CodeInvalidField, "delete"},
	{"delete missing clientId", `{"action":"delete","channel":"a","seq":1}`, CodeInvalidField, "delete"},
	{"react missing emoji", `{"action":"react","channel":"a","seq":1}`, CodeInvalidField, "react"},
	{"react text emoji", `{"action":"react","channel":"a","seq":1,"emoji":"ok"}`, CodeInvalidField, "react"},
	{"react two emoji", `{"action":"react","channel":"a","seq":1,"emoji":"👍👍"}`, CodeInvalidField, "react"},
	{"react bad shortcode", `{"action":"react","channel":"a","seq":1,"emoji":":Tada:"}`, CodeInvalidField, "react"},
	{"react emoji too long", `{"action":"react","channel":"a","seq":1,"emoji":"` + strings.Repeat("👍", 9) + `"}`, CodeTooLarge, "react"},
	{"react bad clientId", `{"action":"react","channel":"a","seq":1,"emoji":"👍","clientId":"a b"}`, CodeInvalidField, "react"},
	{"unreact seq string", `{"action":"unreact","channel":"a","seq":"1","emoji":"👍"}`, CodeInvalidField, "unreact"},
	{"typing extra field", `{"action":"typing","channel":"a","seq":1}`, CodeInvalidField, "typing"},
	{"typing missing channel", `{"action":"typing"}`, CodeInvalidField, "typing"},
	{"read missing seq", `{"action":"read","channel":"a"}`, CodeInvalidField, "read"},
	{"read seq negative", `{"action":"read","channel":"a","seq":-1}`, CodeInvalidField, "read"},
	{"channels with channel", `{"action":"channels","channel":"a"}`, CodeInvalidField, "channels"},
	{"frame too large", `{"action":"send","channel":"a","clientId":"c","text":"` + strings.Repeat("x", MaxFrameBytes) + `"}`, CodeTooLarge, ""},
}

func TestDecodeRejects(t *testing.T) {
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if got != nil {
				t.Errorf("Decode(%.60q) request = %#v, want nil", tt.in, got)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Decode(%.60q) error = %v, want a *protocol.Error", tt.in, err)
			}
			if perr.Code != tt.code || perr.Action != tt.action {
				t.Errorf("Decode(%.60q) = code %q action %q (%s), want code %q action %q",
					tt.in, perr.Code, perr.Action, perr.Message, tt.code, tt.action)
			}
			if perr.Message == "" {
				t.Errorf("Decode(%.60q) error has no message", tt.in)
			}
		})
	}
}

// TestDecodeErrorsNeverEchoText guards the rule that error messages (which are
// logged) never contain the client's message text.
func TestDecodeErrorsNeverEchoText(t *testing.T) {
	const secret = "SECRETTEXT"
	inputs := []string{
		`{"action":"send","channel":"a","text":"` + secret + strings.Repeat("x", MaxTextRunes) + `","clientId":"c"}`,
		`{"action":"send","channel":"A","text":"` + secret + `","clientId":"c"}`,
		`{"action":"send","channel":"a","text":"` + secret + `","clientId":""}`,
		`{"action":"send","channel":"a","text":"` + secret + `","clientId":"c","extra":1}`,
		`{"action":"send","channel":"a","text":"` + secret + `"`,
	}
	for _, in := range inputs {
		_, err := Decode([]byte(in))
		if err == nil {
			t.Fatalf("Decode(%.60q) = nil error, want one", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Decode error %q echoes the message text", err)
		}
	}
}

func TestValidChannel(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"general", true}, {"a", true}, {"0", true}, {"a-b_c9", true},
		{"", false}, {"_a", false}, {"-a", false}, {"A", false}, {"a.b", false}, {"a#1", false},
		{strings.Repeat("a", 64), true}, {strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		if got := ValidChannel(tt.in); got != tt.want {
			t.Errorf("ValidChannel(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// The domain restates the reaction limits (it does not import wire);
// this keeps the two equal.
func TestReactionLimitsMatchTheDomain(t *testing.T) {
	if chat.MaxEmojiPerMessage != MaxEmojiPerMessage || chat.MaxReactionsPerUser != MaxReactionsPerUser ||
		chat.MaxReactionsPerMessage != MaxReactionsPerMessage {
		t.Error("internal/chat's reaction limits differ from the wire contract's")
	}
}
