package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

// The lifecycle's store steps on dynalite: a change stored, applied with
// optimistic concurrency, marked applied (its text erased), voided; the
// message read back in its current state.
func TestChangeStepsOnTheStore(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	ann := chat.Identity{UserID: "u1", UserName: "Ann"}
	for range 3 {
		if _, err := s.NextSeq(ctx, "general"); err != nil {
			t.Fatal(err)
		}
	}
	m := chat.Message{Channel: "general", Seq: 1, Identity: ann, Text: "v0", ClientID: "m1", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	edit := chat.Change{Channel: "general", Seq: 2, Op: chat.OpEdit, Target: 1, Identity: ann, ClientID: "e1", Text: "v1",
		At: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutChange(ctx, edit); err != nil {
		t.Fatal(err)
	}
	if err := s.PutChange(ctx, edit); err != nil {
		t.Errorf("PutChange of the same change again = %v, want nil (a retry)", err)
	}
	other := edit
	other.ClientID = "e2"
	if err := s.PutChange(ctx, other); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("PutChange of another change in the slot = %v, want ErrConflict", err)
	}
	if _, err := s.GetMessage(ctx, "general", 2); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("GetMessage of a change = %v, want ErrNotFound", err)
	}
	obs, err := s.GetMessage(ctx, "general", 1)
	if err != nil {
		t.Fatal(err)
	}
	next, err := obs.Apply(edit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.WriteState(ctx, "general", obs, next, 2)
	if err != nil || got.Text != "v1" || got.Rev != 2 || got.Pend != 2 || got.EditedAt.IsZero() {
		t.Fatalf("WriteState = %+v, %v; want v1 at rev 2, pend 2", got, err)
	}
	if _, err := s.WriteState(ctx, "general", obs, next, 3); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("WriteState from a stale observation = %v, want ErrConflict", err)
	}
	if st, err := s.ItemStatus(ctx, "general", 2); err != nil || st != chat.StatusPending {
		t.Errorf("ItemStatus(2) = %q, %v; want pending until marked", st, err)
	}
	if err := s.MarkApplied(ctx, "general", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Void(ctx, "general", 2); err != nil { // no effect: not pending any more
		t.Fatal(err)
	}
	if st, _ := s.ItemStatus(ctx, "general", 2); st != chat.StatusApplied {
		t.Errorf("ItemStatus(2) = %q after MarkApplied and a late Void, want applied", st)
	}
	page, err := s.SettledHistory(ctx, chat.HistoryQuery{Channel: "general", Limit: 10, Grace: time.Second, TombstoneTTL: time.Hour})
	if err != nil || len(page.Updates) != 1 || page.Updates[0].Text != "" || page.Targets[1].Text != "v1" {
		t.Errorf("SettledHistory = %+v, %v; want the update without text and the target's current text", page, err)
	}

	// A delete erases: no text attribute left, state kept.
	del := chat.Change{Channel: "general", Seq: 3, Op: chat.OpDelete, Target: 1, Identity: ann, ClientID: "d1", At: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutChange(ctx, del); err != nil {
		t.Fatal(err)
	}
	obs, _ = s.GetMessage(ctx, "general", 1)
	next, _ = obs.Apply(del)
	if got, err := s.WriteState(ctx, "general", obs, next, 3); err != nil || !got.Deleted || got.Text != "" || got.Rev != 3 {
		t.Errorf("delete = %+v, %v", got, err)
	}
	if got, _ := s.GetMessage(ctx, "general", 1); got.Text != "" || !got.Deleted {
		t.Errorf("deleted message = %+v", got)
	}
}

func TestFenceBlocksALateChangeAndVoidErases(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	ann := chat.Identity{UserID: "u1", UserName: "Ann"}
	m := chat.Message{Channel: "c", Seq: 1, Identity: ann, Text: "x", ClientID: "m1", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	obs, _ := s.GetMessage(ctx, "c", 1)
	if err := s.Fence(ctx, "c", obs, 5); err != nil {
		t.Fatal(err)
	}
	next, _ := obs.Apply(chat.Change{Op: chat.OpEdit, Text: "late", At: clk.Now()})
	if _, err := s.WriteState(ctx, "c", obs, next, 4); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("a change read before the fence = %v, want ErrConflict", err)
	}
	if got, _ := s.GetMessage(ctx, "c", 1); got.Rev != 5 || got.Text != "x" {
		t.Errorf("fenced message = %+v, want rev 5, unchanged", got)
	}
	reply := chat.Message{Channel: "c", Seq: 6, Identity: ann, Text: "a reply never counted", ClientID: "r1", ReplyTo: 1,
		SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutMessage(ctx, reply); err != nil {
		t.Fatal(err)
	}
	if err := s.Void(ctx, "c", 6); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, "c", 6); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a voided reply reads as %v, want ErrNotFound", err)
	}
	if err := s.PutMessage(ctx, reply); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("a late retry of a voided reply = %v, want ErrConflict (renumber)", err)
	}
}

func TestReadStateAndChannelList(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	if last, err := s.TouchUserChannel(ctx, "u1", "general"); err != nil || last != 0 {
		t.Fatalf("TouchUserChannel = %d, %v", last, err)
	}
	for range 4 {
		if _, err := s.NextSeq(ctx, "general"); err != nil {
			t.Fatal(err)
		}
	}
	for i, who := range []string{"u2", "u1", "u2", "u2"} {
		m := chat.Message{Channel: "general", Seq: int64(i + 1), Identity: chat.Identity{UserID: who, UserName: who}, Text: "m", ClientID: "c" + who + string(rune('0'+i)),
			SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		seq, want int64
		raised    bool
	}{{2, 2, true}, {1, 2, false}, {2, 2, false}, {3, 3, true}}
	for _, tt := range tests {
		got, raised, err := s.MarkRead(ctx, "u1", "general", tt.seq)
		if err != nil || got != tt.want || raised != tt.raised {
			t.Errorf("MarkRead(%d) = %d, %v, %v; want %d, %v", tt.seq, got, raised, err, tt.want, tt.raised)
		}
	}
	if last, _ := s.TouchUserChannel(ctx, "u1", "general"); last != 3 {
		t.Errorf("TouchUserChannel after reads = %d, want 3", last)
	}
	if _, _, err := s.MarkRead(ctx, "u1", "random", 0); err != nil {
		t.Fatal(err)
	}
	ucs, err := s.UserChannels(ctx, "u1")
	if err != nil || len(ucs) != 2 || ucs[0] != (chat.UserChannel{Channel: "general", LastRead: 3}) || ucs[1].Channel != "random" {
		t.Errorf("UserChannels = %+v, %v", ucs, err)
	}
	sum, err := s.ChannelSummary(ctx, "general", "u1", 1, 100)
	if err != nil || sum.LastSeq != 4 || sum.Unread != 2 || sum.UnreadMore || sum.Last == nil || sum.Last.Seq != 4 {
		t.Errorf("ChannelSummary after 1 = %+v, %v; want 2 unread (u1's own not counted), last 4", sum, err)
	}
	if err := s.RemoveUserChannel(ctx, "u1", "random"); err != nil {
		t.Fatal(err)
	}
	if ucs, _ := s.UserChannels(ctx, "u1"); len(ucs) != 1 {
		t.Errorf("after RemoveUserChannel: %+v", ucs)
	}
}

// A change that history's scan read pending can be applied, marked applied
// by the next change and overtaken by it before history reads the target
// (found by the JavaScript SDK proof under load: an acknowledged reaction
// never reached one receiver, and nothing reported a hole). History must
// serve it, not settle past it; a change that really lost the race for
// its target is voided and skipped.
func TestHistoryServesAChangeAppliedAfterItsScan(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	ann := chat.Identity{UserID: "u1", UserName: "Ann"}
	for range 4 {
		if _, err := s.NextSeq(ctx, "c"); err != nil {
			t.Fatal(err)
		}
	}
	m := chat.Message{Channel: "c", Seq: 1, Identity: ann, Text: "v0", ClientID: "m1", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	apply := func(seq int64, text string) {
		t.Helper()
		c := chat.Change{Channel: "c", Seq: seq, Op: chat.OpEdit, Target: 1, Identity: ann, ClientID: text, Text: text,
			At: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
		if err := s.PutChange(ctx, c); err != nil {
			t.Fatal(err)
		}
		obs, err := s.GetMessage(ctx, "c", 1)
		if err != nil {
			t.Fatal(err)
		}
		if obs.Pend != 0 {
			if err := s.MarkApplied(ctx, "c", obs.Pend); err != nil {
				t.Fatal(err)
			}
		}
		next, err := obs.Apply(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteState(ctx, "c", obs, next, seq); err != nil {
			t.Fatal(err)
		}
	}
	apply(2, "v2")
	apply(3, "v3") // marks 2 applied, then writes rev 3, pend 3
	q := chat.HistoryQuery{Channel: "c", Limit: 10, Grace: time.Hour, TombstoneTTL: time.Hour}
	if include, settled := s.ResolveAsScanned(ctx, q, 2, 1); !include || !settled {
		t.Errorf("change 2, applied after the scan read it pending: include %v, settled %v; want it served", include, settled)
	}
	lost := chat.Change{Channel: "c", Seq: 4, Op: chat.OpEdit, Target: 1, Identity: ann, ClientID: "late", Text: "late",
		At: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutChange(ctx, lost); err != nil {
		t.Fatal(err)
	}
	apply5 := func() { // a later change wins the target; 4 is never applied
		obs, _ := s.GetMessage(ctx, "c", 1)
		if err := s.Fence(ctx, "c", obs, 5); err != nil {
			t.Fatal(err)
		}
	}
	apply5()
	if include, settled := s.ResolveAsScanned(ctx, q, 4, 1); include || !settled {
		t.Errorf("change 4, overtaken before it was applied: include %v, settled %v; want it voided and skipped", include, settled)
	}
	if st, err := s.ItemStatus(ctx, "c", 4); err != nil || st != chat.StatusVoid {
		t.Errorf("ItemStatus(4) = %q, %v; want void", st, err)
	}
}
