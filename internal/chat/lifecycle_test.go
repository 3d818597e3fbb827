package chat

import (
	"errors"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := Message{Seq: 1, Identity: Identity{UserID: "ann"}, Text: "hi"}
	reacted := Message{Seq: 1, Identity: Identity{UserID: "ann"}, Text: "hi",
		Reactions: []ReactionSet{{Emoji: "👍", Users: []string{ReactorID("bo")}}}}
	tests := []struct {
		name string
		m    Message
		c    Change
		want string // the resulting state, or the error
	}{
		{"edit", base, Change{Op: OpEdit, Text: "hey", At: at}, "hey edited del=false rx=[] replies=0"},
		{"edit deleted", Message{Seq: 1, Deleted: true}, Change{Op: OpEdit, Text: "x"}, "refused"},
		{"delete erases", reacted, Change{Op: OpDelete, At: at}, " edited del=true rx=[] replies=0"},
		{"delete twice", Message{Seq: 1, Deleted: true}, Change{Op: OpDelete}, "unchanged"},
		{"react", base, Change{Op: OpReact, Emoji: "👍", Identity: Identity{UserID: "bo"}}, "hi del=false rx=[👍:1] replies=0"},
		{"react again", reacted, Change{Op: OpReact, Emoji: "👍", Identity: Identity{UserID: "bo"}}, "unchanged"},
		{"react other user", reacted, Change{Op: OpReact, Emoji: "👍", Identity: Identity{UserID: "cy"}}, "hi del=false rx=[👍:2] replies=0"},
		{"unreact last", reacted, Change{Op: OpUnreact, Emoji: "👍", Identity: Identity{UserID: "bo"}}, "hi del=false rx=[] replies=0"},
		{"unreact absent", reacted, Change{Op: OpUnreact, Emoji: "👍", Identity: Identity{UserID: "cy"}}, "unchanged"},
		{"reply", base, Change{Op: OpReply}, "hi del=false rx=[] replies=1"},
		{"reply to reply", Message{Seq: 2, ReplyTo: 1}, Change{Op: OpReply}, "refused"},
	}
	for _, tt := range tests {
		got, err := tt.m.Apply(tt.c)
		var s string
		var r *Refusal
		switch {
		case errors.As(err, &r):
			s = "refused"
		case errors.Is(err, ErrUnchanged):
			s = "unchanged"
		case err != nil:
			s = err.Error()
		default:
			s = got.Text
			if !got.EditedAt.IsZero() {
				s += " edited"
			}
			rx := "["
			for i, x := range got.Reactions {
				if i > 0 {
					rx += " "
				}
				rx += x.Emoji + ":" + string(rune('0'+len(x.Users)))
			}
			s += " del=" + map[bool]string{true: "true", false: "false"}[got.Deleted] + " rx=" + rx + "] replies=" + string(rune('0'+got.Replies))
		}
		if s != tt.want {
			t.Errorf("%s: Apply = %q, want %q", tt.name, s, tt.want)
		}
	}
	if len(reacted.Reactions[0].Users) != 1 {
		t.Error("Apply changed the message it was called on")
	}
}
