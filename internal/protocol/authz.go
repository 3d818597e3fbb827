package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wschat/wschat/wire"
)

// Bodies of the publish API's access routes (docs/publish.md).
type (
	PrivateChannelBody = wire.PrivateChannelBody
	ListedMember       = wire.ListedMember
	MemberBody         = wire.MemberBody
	RevokeBody         = wire.RevokeBody
)

// Codes the publish API answers besides the protocol's.
const (
	CodeNotFound = wire.CodeNotFound
	CodeConflict = wire.CodeConflict
)

// maxListedName bounds a display name given for a listed member, as the
// authorizer bounds one from a token.
const maxListedName = 64

// DecodePrivateChannel parses the body of PUT /channels/{channel}:
// {"members":[{"userId":"ann","userName":"Ann"},...]}, 1 to
// wire.MaxListedPerRequest members, each a valid user id (wire.CheckUserID)
// and an optional name of at most 64 characters without control characters.
func DecodePrivateChannel(data []byte) (*PrivateChannelBody, error) {
	type member struct {
		UserID   string `json:"userId"`
		UserName string `json:"userName"`
		Role     string `json:"role"`
	}
	var body struct {
		Members []member `json:"members"`
	}
	if err := decodeStrict(data, &body); err != nil {
		return nil, err
	}
	if len(body.Members) == 0 || len(body.Members) > wire.MaxListedPerRequest {
		return nil, Errorf(CodeInvalidField, "", "members must list 1 to %d users", wire.MaxListedPerRequest)
	}
	out := &PrivateChannelBody{}
	for _, m := range body.Members {
		if err := wire.CheckUserID(m.UserID); err != nil {
			return nil, Errorf(CodeInvalidField, "", "members: %v", err)
		}
		if err := checkListedName(m.UserName); err != nil {
			return nil, err
		}
		if m.Role != "" && wire.RoleRank(m.Role) == 0 {
			return nil, Errorf(CodeInvalidField, "", "members: role must be member, moderator or owner")
		}
		out.Members = append(out.Members, ListedMember{UserID: m.UserID, UserName: m.UserName, Role: m.Role})
	}
	return out, nil
}

// DecodeMemberBody parses the optional body of PUT
// /channels/{channel}/members/{userId}: {"userName":"Ann"} or nothing.
func DecodeMemberBody(data []byte) (*MemberBody, error) {
	var body struct {
		UserName string `json:"userName"`
		Role     string `json:"role"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(data, &body); err != nil {
			return nil, err
		}
	}
	if err := checkListedName(body.UserName); err != nil {
		return nil, err
	}
	if body.Role != "" && wire.RoleRank(body.Role) == 0 {
		return nil, Errorf(CodeInvalidField, "", "role must be member, moderator or owner")
	}
	return &MemberBody{UserName: body.UserName, Role: body.Role}, nil
}

// maxRevokeAhead bounds how far in the future a revocation may reach.
const maxRevokeAhead = 366 * 24 * time.Hour

// DecodeRevoke parses the optional body of PUT /users/{userId}/revocation,
// {"until":"<RFC 3339>"}, and returns the time: now when absent, never
// before 2000 nor more than a year ahead.
func DecodeRevoke(data []byte, now time.Time) (time.Time, error) {
	var body struct {
		Until *time.Time `json:"until"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(data, &body); err != nil {
			return time.Time{}, err
		}
	}
	if body.Until == nil {
		return now, nil
	}
	until := *body.Until
	if until.Year() < 2000 || until.After(now.Add(maxRevokeAhead)) {
		return time.Time{}, Errorf(CodeInvalidField, "", "until must be an RFC 3339 time from 2000 to a year from now")
	}
	return until, nil
}

func checkListedName(name string) error {
	if utf8.RuneCountInString(name) > maxListedName {
		return Errorf(CodeInvalidField, "", "userName is longer than %d characters", maxListedName)
	}
	for _, r := range name {
		if r < ' ' || (r >= 0x7f && r <= 0x9f) {
			return Errorf(CodeInvalidField, "", "userName must not contain control characters")
		}
	}
	return nil
}

// decodeStrict decodes one JSON object of valid UTF-8 into v: unknown
// fields, duplicate keys at the top level, trailing data and a body over
// MaxPublishBodyBytes are errors.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxPublishBodyBytes {
		return Errorf(CodeTooLarge, "", "body is %d bytes, the limit is %d", len(data), MaxPublishBodyBytes)
	}
	if !utf8.Valid(data) {
		return Errorf(CodeInvalidJSON, "", "body is not valid UTF-8")
	}
	if _, perr := parseObject(data); perr != nil {
		if rest, ok := strings.CutPrefix(perr.Message, "frame"); ok {
			perr.Message = "body" + rest
		}
		return perr
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeInvalidField, "", "body does not match the route's fields: %s", shortJSONError(err))
	}
	return nil
}

// shortJSONError names what was wrong without echoing the body.
func shortJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + quoteShort(te.Field) + " has the wrong type"
	}
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}
