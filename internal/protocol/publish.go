package protocol

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wschat/wschat/wire"
)

// Bodies of the publish HTTP API (docs/publish.md). They follow the same
// field rules as the WebSocket actions — channel, text and id are checked by
// the same functions as a send's channel, text and clientId — so a message
// refused on one path is refused on the other.

// MaxPublishBodyBytes bounds a publish request body (wire.MaxPublishBodyBytes).
const MaxPublishBodyBytes = wire.MaxPublishBodyBytes

// Publish and NoticeBody are the bodies of the channel and user routes.
type (
	Publish    = wire.Publish
	NoticeBody = wire.NoticeBody
)

// DecodePublish parses a publish body: exactly "text" and "id", both required.
func DecodePublish(data []byte) (*Publish, error) {
	f, err := bodyFields(data, "text", "id")
	if err != nil {
		return nil, err
	}
	p := &Publish{Text: f.text(), ID: f.id(true)}
	if f.err != nil {
		return nil, f.err
	}
	return p, nil
}

// DecodeNotice parses a user notice body: "text" required, "id" optional.
func DecodeNotice(data []byte) (*NoticeBody, error) {
	f, err := bodyFields(data, "text", "id")
	if err != nil {
		return nil, err
	}
	n := &NoticeBody{Text: f.text(), ID: f.id(false)}
	if f.err != nil {
		return nil, f.err
	}
	return n, nil
}

func bodyFields(data []byte, allowed ...string) (*fields, *Error) {
	if len(data) > MaxPublishBodyBytes {
		return nil, Errorf(CodeTooLarge, "", "body is %d bytes, the limit is %d", len(data), MaxPublishBodyBytes)
	}
	if !utf8.Valid(data) {
		return nil, Errorf(CodeInvalidJSON, "", "body is not valid UTF-8")
	}
	obj, err := parseObject(data)
	if err != nil {
		// Same checks as a frame; the word is the HTTP one.
		if rest, ok := strings.CutPrefix(err.Message, "frame"); ok {
			err.Message = "body" + rest
		}
		return nil, err
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, Errorf(CodeInvalidField, "", "unknown field %s", quoteShort(unknown[0]))
	}
	return &fields{obj: obj}, nil
}

// id reads the publish "id" with the clientId rule.
func (f *fields) id(required bool) string {
	if _, ok := f.obj["id"]; !ok && !required {
		return ""
	}
	s, ok := f.str("id")
	if ok && !ValidClientID(s) {
		f.fail(CodeInvalidField, "id must match ^[A-Za-z0-9._:-]{1,64}$")
		return ""
	}
	return s
}
