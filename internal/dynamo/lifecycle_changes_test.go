package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/eventpattern"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/testkit"
)

type quietBroadcaster struct{}

func (quietBroadcaster) Broadcast(context.Context, *chat.Budget, string, []byte) (chat.FanoutStats, error) {
	return chat.FanoutStats{}, nil
}

// TestLifecycleWritesYieldTheirChanges runs the message lifecycle through
// the handlers' own pipeline (Deliverer.Deliver and Change) on the real
// store behind the stream capture, and resolves every record as the events
// function does (DecodeChange, then ResolveApplied for a message's state
// written by a change or a reply): each edit, delete, reaction and reply
// is exactly one change, named with who made it, and a change that did not
// happen (a repeated reaction, an unreact of nothing, a reply refused by a
// deleted parent) is none, although each stored or voided an item.
func TestLifecycleWritesYieldTheirChanges(t *testing.T) {
	ctx := t.Context()
	clk := testkit.NewClock()
	s, stream := capturedStore(t, dynamo.Options{Now: clk.Now})
	d := &handler.Deliverer{Store: s, Broadcaster: quietBroadcaster{}, Retention: time.Hour, Lifecycle: s}
	ann := chat.Identity{UserID: "ann", UserName: "Ann"}
	bob := chat.Identity{UserID: "bob", UserName: "Bob"}
	send := func(who chat.Identity, id, text string, replyTo int64) int64 {
		t.Helper()
		p := handler.Post{Channel: "general", Text: text, ClientID: id, Caller: who.UserID, Identity: who, Now: clk.Now(), ReplyTo: replyTo}
		if replyTo != 0 {
			parent, err := s.GetMessage(ctx, "general", replyTo)
			if err != nil {
				t.Fatal(err)
			}
			p.Parent = &parent
		}
		m, err := d.Deliver(ctx, p)
		if err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		return m.Seq
	}
	change := func(who chat.Identity, id, op string, target int64, text, emoji string) (int64, error) {
		t.Helper()
		return d.Change(ctx, handler.ChangePost{Channel: "general", Op: op, Target: target, Text: text, Emoji: emoji,
			ClientID: id, Identity: who, Now: clk.Now()})
	}
	m1 := send(ann, "m1", "hello", 0)
	m2 := send(bob, "m2", "typo", 0)
	if _, err := change(bob, "e1", chat.OpEdit, m2, "fixed", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := change(bob, "r1", chat.OpReact, m1, "", "👍"); err != nil {
		t.Fatal(err)
	}
	if _, err := change(ann, "r2", chat.OpReact, m1, "", "👍"); err != nil {
		t.Fatal(err)
	}
	if seq, err := change(bob, "r3", chat.OpReact, m1, "", "👍"); err != nil || seq != 0 { // already there
		t.Fatalf("a repeated reaction: seq %d, %v; want 0 (unchanged)", seq, err)
	}
	if _, err := change(ann, "u1", chat.OpUnreact, m1, "", "👍"); err != nil {
		t.Fatal(err)
	}
	send(bob, "m3", "a reply", m1)
	if _, err := change(bob, "x1", chat.OpDelete, m2, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(ctx, handler.Post{Channel: "general", Text: "to a deleted message", ClientID: "m4", Caller: "ann",
		Identity: ann, Now: clk.Now(), ReplyTo: m2}); err == nil {
		t.Error("a reply to a deleted message was accepted")
	}

	want := []string{
		"message.created general m1 ann hello",
		"message.created general m2 bob typo",
		"message.edited general m2 by bob: fixed",
		"reaction.added general m1 by bob 👍 ×1",
		"reaction.added general m1 by ann 👍 ×2",
		"reaction.removed general m1 by ann 👍 ×1",
		"message.created general m3 bob a reply (reply to m1)",
		"message.deleted general m2 by bob",
	}
	names := map[int64]string{m1: "m1", m2: "m2"}
	filters := make([]*eventpattern.Pattern, len(dynamo.StreamFilters))
	for i, f := range dynamo.StreamFilters {
		filters[i] = eventpattern.MustParse(f)
	}
	var got []string
	for _, rec := range stream.Records() {
		raw, _ := json.Marshal(rec)
		var r dynamo.StreamRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		c, ok, err := dynamo.DecodeChange(r)
		if err != nil {
			t.Fatalf("record %s: %v", raw, err)
		}
		if !ok {
			continue
		}
		matched := false
		for _, f := range filters {
			if m, _ := f.Match(raw); m {
				matched = true
			}
		}
		if !matched {
			t.Errorf("the change %s (%s) passes none of StreamFilters", c.Kind, raw)
		}
		if c, ok, err = s.ResolveApplied(ctx, c); err != nil {
			t.Fatal(err)
		} else if !ok {
			continue
		}
		m, ch := c.Message, c.Change
		switch c.Kind {
		case chat.ChangeMessageCreated:
			names[m.Seq] = m.ClientID
			line := fmt.Sprintf("%s %s %s %s %s", c.Kind, m.Channel, m.ClientID, m.UserID, m.Text)
			if m.ReplyTo != 0 {
				line += " (reply to " + names[m.ReplyTo] + ")"
			}
			got = append(got, line)
		case chat.ChangeMessageEdited:
			got = append(got, fmt.Sprintf("%s %s %s by %s: %s", c.Kind, m.Channel, names[m.Seq], ch.UserID, m.Text))
		case chat.ChangeMessageDeleted:
			if m.Text != "" {
				t.Errorf("deleted message %d still has its text %q", m.Seq, m.Text)
			}
			got = append(got, fmt.Sprintf("%s %s %s by %s", c.Kind, m.Channel, names[m.Seq], ch.UserID))
		case chat.ChangeReactionAdded, chat.ChangeReactionRemoved:
			n := 0
			for _, r := range m.Reactions {
				if r.Emoji == ch.Emoji {
					n = len(r.Users)
				}
			}
			got = append(got, fmt.Sprintf("%s %s %s by %s %s ×%d", c.Kind, m.Channel, names[m.Seq], ch.UserID, ch.Emoji, n))
		default:
			got = append(got, string(c.Kind))
		}
		if c.Kind != chat.ChangeMessageCreated && (ch.Seq <= m.Seq || ch.At.IsZero() || ch.UserName == "") {
			t.Errorf("%s: change %+v lacks its seq, time or who", c.Kind, ch)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestModerationWritesYieldModerationChanges: a moderation action stored
// through the handlers' pipeline (Deliverer.Moderate) is one moderation
// change, with its op, subject, who and mute end, and never a
// message.created (its history item has no status, as a final message's
// has none); the stream filters pass it.
func TestModerationWritesYieldModerationChanges(t *testing.T) {
	ctx := t.Context()
	clk := testkit.NewClock()
	s, stream := capturedStore(t, dynamo.Options{Now: clk.Now})
	d := &handler.Deliverer{Store: s, Broadcaster: quietBroadcaster{}, Retention: time.Hour, Lifecycle: s}
	ann := chat.Identity{UserID: "ann", UserName: "Ann"}
	if _, err := d.Deliver(ctx, handler.Post{Channel: "general", Text: "hello", ClientID: "m1", Caller: "ann", Identity: ann, Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	until := clk.Now().Add(10 * time.Minute)
	actions := []chat.Moderation{
		{Channel: "general", Op: "mute", Subject: chat.Identity{UserID: "bob", UserName: "Bob"}, Identity: ann, Until: until, Reason: "spam", ClientID: "mod1"},
		{Channel: "general", Op: "role", Subject: chat.Identity{UserID: "cat"}, Identity: ann, Role: "moderator", ClientID: "mod2"},
		{Channel: "general", Op: "ban", Subject: chat.Identity{UserID: "bob"}, Identity: chat.Identity{UserID: "server", UserName: "Ops"}, From: "server", ClientID: "mod3"},
	}
	for _, m := range actions {
		key := chat.ClaimKey{Channel: m.Channel, UserID: m.UserID, ClientID: m.ClientID}
		if _, err := d.Moderate(ctx, s, key, m, clk.Now(), nil); err != nil {
			t.Fatalf("moderate %s: %v", m.ClientID, err)
		}
	}
	filters := make([]*eventpattern.Pattern, len(dynamo.StreamFilters))
	for i, f := range dynamo.StreamFilters {
		filters[i] = eventpattern.MustParse(f)
	}
	var got []string
	for _, rec := range stream.Records() {
		raw, _ := json.Marshal(rec)
		var r dynamo.StreamRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		c, ok, err := dynamo.DecodeChange(r)
		if err != nil {
			t.Fatalf("record %s: %v", raw, err)
		}
		if !ok {
			continue
		}
		matched := false
		for _, f := range filters {
			if m, _ := f.Match(raw); m {
				matched = true
			}
		}
		if !matched {
			t.Errorf("the change %s (%s) passes none of StreamFilters", c.Kind, raw)
		}
		switch c.Kind {
		case chat.ChangeMessageCreated:
			got = append(got, fmt.Sprintf("%s %s %s", c.Kind, c.Message.ClientID, c.Message.Text))
		case chat.ChangeModeration:
			m := c.Moderation
			line := fmt.Sprintf("%s %s %s %s by %s/%s from %q role %q reason %q", c.Kind, m.Channel, m.Op, m.Subject.UserID, m.UserID, m.UserName, m.From, m.Role, m.Reason)
			if !m.Until.IsZero() {
				line += " until +" + m.Until.Sub(clk.Now()).String()
			}
			if m.Seq == 0 || m.At.IsZero() {
				t.Errorf("%s: no seq or time: %+v", line, m)
			}
			got = append(got, line)
		default:
			got = append(got, string(c.Kind))
		}
	}
	want := []string{
		"message.created m1 hello",
		`moderation general mute bob by ann/Ann from "" role "" reason "spam" until +10m0s`,
		`moderation general role cat by ann/Ann from "" role "moderator" reason ""`,
		`moderation general ban bob by server/Ops from "server" role "" reason ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
