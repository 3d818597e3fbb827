package protocol

import (
	"slices"
	"time"

	"github.com/wschat/wschat/wire"
)

// Moderation's requests, events and codes: the wire contract's
// (wire/moderation.go).
type (
	Moderate        = wire.Moderate
	Moderation      = wire.Moderation
	ModerationEntry = wire.ModerationEntry
	ModerationBody  = wire.ModerationBody
	Moderated       = wire.Moderated
)

// Moderation's error codes.
const (
	CodeMuted  = wire.CodeMuted
	CodeBanned = wire.CodeBanned
)

// decodeModerate reads a moderate request's fields: a known op, a user id,
// a mute's seconds (1 … wire.MaxMute, required for a mute and refused
// otherwise), a role for a role op (member, moderator or owner), an
// optional reason.
func decodeModerate(f *fields) *Moderate {
	r := &Moderate{Channel: f.channel(), Op: f.op(), UserID: f.userID("userId"), ClientID: f.clientID()}
	r.Seconds, r.Role, r.Reason = f.moderationArgs(r.Op)
	return r
}

func (f *fields) op() string {
	s, ok := f.str("op")
	if ok && !slices.Contains(wire.ModerationOps, s) {
		f.fail(CodeInvalidField, "op must be one of mute, unmute, ban, unban, role")
		return ""
	}
	return s
}

// moderationArgs reads what an op takes besides the user: CheckModeration
// on the fields present.
func (f *fields) moderationArgs(op string) (seconds int64, role, reason string) {
	if _, ok := f.obj["seconds"]; ok {
		seconds = f.int("seconds", 0, 1, int64(wire.MaxMute/time.Second))
	}
	if _, ok := f.obj["role"]; ok {
		role, _ = f.str("role")
	}
	if _, ok := f.obj["reason"]; ok {
		var raw string
		raw, _ = f.str("reason")
		reason = raw
	}
	if f.err == nil && op != "" {
		if err := CheckModeration(op, seconds, role, reason); err != nil {
			f.err = Errorf(CodeInvalidField, f.action, "%s", err.Message)
		}
	}
	return seconds, role, reason
}

// CheckModeration checks what an op takes (a request's or a publish
// body's): seconds for a mute only, a role for a role op only, a reason of
// at most wire.MaxReasonRunes characters without control characters.
func CheckModeration(op string, seconds int64, role, reason string) *Error {
	switch {
	case op == wire.ModMute && (seconds < 1 || seconds > int64(wire.MaxMute/time.Second)):
		return Errorf(CodeInvalidField, "", "a mute needs seconds, 1 to %d", int64(wire.MaxMute/time.Second))
	case op != wire.ModMute && seconds != 0:
		return Errorf(CodeInvalidField, "", "seconds is for a mute only")
	case op == wire.ModRole && wire.RoleRank(role) == 0:
		return Errorf(CodeInvalidField, "", "role must be member, moderator or owner")
	case op != wire.ModRole && role != "":
		return Errorf(CodeInvalidField, "", "role is for a role op only")
	case !wire.CheckReason(reason):
		return Errorf(CodeInvalidField, "", "reason must be at most %d characters without control characters", wire.MaxReasonRunes)
	}
	return nil
}

// DecodeModerationBody parses the body of POST
// /channels/{channel}/moderation: {"op":"mute","userId":"bob",
// "seconds":600,"reason":"...","id":"..."}, checked as a moderate
// request is (id as a send's clientId).
func DecodeModerationBody(data []byte) (*ModerationBody, error) {
	var b ModerationBody
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	switch {
	case !slices.Contains(wire.ModerationOps, b.Op):
		return nil, Errorf(CodeInvalidField, "", "op must be one of mute, unmute, ban, unban, role")
	case !ValidClientID(b.ID):
		return nil, Errorf(CodeInvalidField, "", "id must match ^[A-Za-z0-9._:-]{1,64}$")
	}
	if err := wire.CheckUserID(b.UserID); err != nil {
		return nil, Errorf(CodeInvalidField, "", "userId: %v", err)
	}
	if err := CheckModeration(b.Op, b.Seconds, b.Role, b.Reason); err != nil {
		return nil, err
	}
	return &b, nil
}
