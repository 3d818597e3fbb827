package protocol

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire"
)

// Request is one decoded client request: *Join, *Leave, *Send, *History,
// *Members, *Ping, *Reauth, *OpenDirect, *Moderate or a lifecycle request
// (lifecycle.go), the wire contract's types.
type Request = wire.Request

// The requests, as the wire contract defines them.
type (
	Join       = wire.Join
	Leave      = wire.Leave
	Send       = wire.Send
	History    = wire.History
	Members    = wire.Members
	Ping       = wire.Ping
	Reauth     = wire.Reauth
	OpenDirect = wire.OpenDirect
)

// fieldsOf lists the fields each action accepts besides "action".
var fieldsOf = map[string][]string{
	contract.ActionJoin:    {"channel", "ref"},
	contract.ActionLeave:   {"channel"},
	contract.ActionSend:    {"channel", "text", "clientId", "replyTo", "echo"},
	contract.ActionHistory: {"channel", "after", "limit", "thread"},
	contract.ActionMembers: {"channel", "cursor"},
	contract.ActionPing:    {},

	contract.ActionEdit:     {"channel", "seq", "text", "clientId"},
	contract.ActionDelete:   {"channel", "seq", "clientId"},
	contract.ActionReact:    {"channel", "seq", "emoji", "clientId"},
	contract.ActionUnreact:  {"channel", "seq", "emoji", "clientId"},
	contract.ActionTyping:   {"channel"},
	contract.ActionRead:     {"channel", "seq"},
	contract.ActionChannels: {},
	contract.ActionReauth:   {"token"},
	contract.ActionDirect:   {"userId"},
	contract.ActionModerate: {"channel", "op", "userId", "seconds", "role", "reason", "clientId"},
}

// Decode parses one client frame. On failure it returns an *Error (and a nil
// Request); its Action is set once the action is known. Decode is
// deterministic: the same input always yields the same result.
func Decode(data []byte) (Request, error) {
	if len(data) > MaxFrameBytes {
		return nil, Errorf(CodeTooLarge, "", "frame is %d bytes, the limit is %d", len(data), MaxFrameBytes)
	}
	if !utf8.Valid(data) {
		return nil, Errorf(CodeInvalidJSON, "", "frame is not valid UTF-8")
	}
	obj, perr := parseObject(data)
	if perr != nil {
		return nil, perr
	}
	action, perr := actionOf(obj)
	if perr != nil {
		return nil, perr
	}
	allowed := fieldsOf[action]
	var unknown []string
	for k := range obj {
		if k != "action" && !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, Errorf(CodeInvalidField, action, "unknown field %s for action %q", quoteShort(unknown[0]), action)
	}
	f := fields{obj: obj, action: action}
	var r Request
	switch action {
	case contract.ActionJoin:
		r = &Join{Channel: f.channel(), Ref: f.ref()}
	case contract.ActionLeave:
		r = &Leave{Channel: f.channel()}
	case contract.ActionSend:
		r = &Send{Channel: f.channel(), Text: f.text(), ClientID: f.clientID(), ReplyTo: f.optSeq("replyTo"), Echo: f.optBool("echo")}
	case contract.ActionHistory:
		h := &History{Channel: f.channel()}
		h.After = f.int("after", 0, 0, MaxSeq)
		h.Limit = int(f.int("limit", DefaultHistoryLimit, 1, MaxHistoryLimit))
		h.Thread = f.optSeq("thread")
		r = h
	case contract.ActionMembers:
		r = &Members{Channel: f.channel(), Cursor: f.optString("cursor", MaxCursorLen)}
	case contract.ActionReauth:
		r = &Reauth{Token: f.token()}
	case contract.ActionDirect:
		r = &OpenDirect{UserID: f.userID("userId")}
	case contract.ActionModerate:
		r = decodeModerate(&f)
	case contract.ActionPing:
		r = &Ping{}
	default:
		r = decodeLifecycle(action, &f)
	}
	if f.err != nil {
		return nil, f.err
	}
	return r, nil
}

// parseObject splits a JSON object into its members, rejecting anything else,
// duplicate keys and trailing data.
func parseObject(data []byte) (map[string]json.RawMessage, *Error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, Errorf(CodeInvalidJSON, "", "frame is not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, Errorf(CodeInvalidJSON, "", "frame must be a JSON object")
	}
	obj := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Errorf(CodeInvalidJSON, "", "frame is not JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, Errorf(CodeInvalidJSON, "", "frame is not JSON")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, Errorf(CodeInvalidJSON, "", "frame is not JSON")
		}
		if _, dup := obj[key]; dup {
			return nil, Errorf(CodeInvalidJSON, "", "duplicate key %s", quoteShort(key))
		}
		obj[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, Errorf(CodeInvalidJSON, "", "frame is not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(CodeInvalidJSON, "", "frame must hold exactly one JSON object")
	}
	return obj, nil
}

func actionOf(obj map[string]json.RawMessage) (string, *Error) {
	raw, ok := obj["action"]
	if !ok {
		return "", Errorf(CodeInvalidField, "", "action is required")
	}
	var action string
	if !isString(raw) || json.Unmarshal(raw, &action) != nil {
		return "", Errorf(CodeInvalidField, "", "action must be a string")
	}
	if _, ok := fieldsOf[action]; !ok {
		// The value is not echoed: the message is logged, and an action
		// string is client content like any other.
		return "", Errorf(CodeUnknownAction, "", "unknown action; want one of %s", strings.Join(contract.Actions, ", "))
	}
	return action, nil
}

// fields reads typed fields of one request, keeping the first error so the
// decoder stays linear and its result deterministic.
type fields struct {
	obj    map[string]json.RawMessage
	action string
	err    *Error
}

func (f *fields) fail(code Code, format string, args ...any) {
	if f.err == nil {
		f.err = Errorf(code, f.action, format, args...)
	}
}

// str returns a required, non-empty string field.
func (f *fields) str(name string) (string, bool) {
	raw, ok := f.obj[name]
	if !ok {
		f.fail(CodeInvalidField, "%s is required", name)
		return "", false
	}
	var s string
	if !isString(raw) || json.Unmarshal(raw, &s) != nil {
		f.fail(CodeInvalidField, "%s must be a string", name)
		return "", false
	}
	if s == "" {
		f.fail(CodeInvalidField, "%s must not be empty", name)
		return "", false
	}
	return s, true
}

func (f *fields) channel() string {
	s, ok := f.str("channel")
	if ok && !ValidChannel(s) {
		f.fail(CodeInvalidField, "channel must match ^[a-z0-9][a-z0-9_-]{0,63}$")
		return ""
	}
	return s
}

func (f *fields) clientID() string {
	s, ok := f.str("clientId")
	if ok && !ValidClientID(s) {
		f.fail(CodeInvalidField, "clientId must match ^[A-Za-z0-9._:-]{1,64}$")
		return ""
	}
	return s
}

// ref reads the optional correlation id of a join; it follows the clientId
// rule, so it is safe to echo to every member.
func (f *fields) ref() string {
	if _, present := f.obj["ref"]; !present {
		return ""
	}
	s, ok := f.str("ref")
	if ok && !ValidClientID(s) {
		f.fail(CodeInvalidField, "ref must match ^[A-Za-z0-9._:-]{1,64}$")
		return ""
	}
	return s
}

func (f *fields) text() string {
	s, ok := f.str("text")
	if !ok {
		return ""
	}
	if n := utf8.RuneCountInString(s); n > MaxTextRunes {
		f.fail(CodeTooLarge, "text is %d characters, the limit is %d", n, MaxTextRunes)
		return ""
	}
	if strings.TrimFunc(s, unicode.IsSpace) == "" {
		f.fail(CodeInvalidField, "text must not be blank")
		return ""
	}
	return s
}

// optString returns an optional string field ("" when absent).
// optBool returns an optional boolean field, nil when absent.
func (f *fields) optBool(name string) *bool {
	raw, ok := f.obj[name]
	if !ok {
		return nil
	}
	var b bool
	if string(raw) != "true" && string(raw) != "false" || json.Unmarshal(raw, &b) != nil {
		f.fail(CodeInvalidField, "%s must be true or false", name)
		return nil
	}
	return &b
}

func (f *fields) optString(name string, maxLen int) string {
	if _, ok := f.obj[name]; !ok {
		return ""
	}
	s, ok := f.str(name)
	if ok && len(s) > maxLen {
		f.fail(CodeInvalidField, "%s is longer than %d bytes", name, maxLen)
		return ""
	}
	return s
}

// int returns an optional integer field in [lo, hi], def when absent.
func (f *fields) int(name string, def, lo, hi int64) int64 {
	raw, ok := f.obj[name]
	if !ok {
		return def
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		f.fail(CodeInvalidField, "%s must be an integer", name)
		return def
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		f.fail(CodeInvalidField, "%s must be an integer", name)
		return def
	}
	if n < lo || n > hi {
		f.fail(CodeInvalidField, "%s must be between %d and %d", name, lo, hi)
		return def
	}
	return n
}

// token reads a reauth's token: a non-empty string of at most
// wire.MaxTokenBytes; its form is the verifier's to judge. The value never
// appears in an error.
func (f *fields) token() string {
	s, ok := f.str("token")
	if ok && len(s) > wire.MaxTokenBytes {
		f.fail(CodeTooLarge, "token is longer than %d bytes", wire.MaxTokenBytes)
		return ""
	}
	return s
}

// userID reads a user id named in a request: the one rule for user ids
// (wire.CheckUserID).
func (f *fields) userID(name string) string {
	s, ok := f.str(name)
	if !ok {
		return ""
	}
	if err := wire.CheckUserID(s); err != nil {
		f.fail(CodeInvalidField, "%s: %v", name, err)
		return ""
	}
	return s
}

func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// quoteShort quotes a client-supplied key or action for an error message,
// cut so an error event cannot be inflated by the client.
func quoteShort(s string) string {
	const max = 32
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}
