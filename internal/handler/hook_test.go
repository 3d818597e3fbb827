package handler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/wire/events"
)

// fakeHook answers with answer and records what it was asked.
type fakeHook struct {
	mu     sync.Mutex
	asked  []events.BeforeSend
	answer func(in events.BeforeSend) (events.Verdict, error)
}

func (h *fakeHook) Check(ctx context.Context, in events.BeforeSend) (events.Verdict, error) {
	h.mu.Lock()
	h.asked = append(h.asked, in)
	h.mu.Unlock()
	return h.answer(in)
}

// wordFilter is the example's rule: reject "spam", redact "darn".
func wordFilter(in events.BeforeSend) (events.Verdict, error) {
	switch {
	case strings.Contains(in.Text, "spam"):
		return events.Verdict{Verdict: events.Reject, Reason: "no spam here"}, nil
	case strings.Contains(in.Text, "darn"):
		return events.Verdict{Verdict: events.Replace, Text: strings.ReplaceAll(in.Text, "darn", "****")}, nil
	}
	return events.Verdict{Verdict: events.Allow}, nil
}

// TestHookAllowsRejectsAndRedacts: the hook sees the message and the
// sender; a rejection is an error frame with its reason and stores nothing;
// a redaction stores and delivers the replaced text, and a retry of the
// original text (same clientId) gets the same seq; outcomes and latency
// are metrics.
func TestHookAllowsRejectsAndRedacts(t *testing.T) {
	e := newEnv(t, testConfig())
	hk := &fakeHook{answer: wordFilter}
	e.chat.WithHook(hk, handler.HookConfig{Function: "filter", Timeout: time.Second})
	e.joinAll("general", "a", "b")
	ann := user("u-a", "User a")

	e.must("a", ann, `{"action":"send","channel":"general","text":"buy spam now","clientId":"m1"}`)
	frames := e.gw.take("a")
	if len(frames) != 1 || frames[0]["type"] != "error" || frames[0]["code"] != "rejected" || frames[0]["message"] != "no spam here" || frames[0]["clientId"] != "m1" {
		t.Fatalf("rejected send: frames %v", frames)
	}
	if got := e.gw.take("b"); len(got) != 0 || len(e.history("general")) != 0 {
		t.Fatalf("a rejected message reached %v / history %v", got, e.history("general"))
	}

	e.must("a", ann, `{"action":"send","channel":"general","text":"darn it","clientId":"m2"}`)
	e.must("a", ann, `{"action":"send","channel":"general","text":"darn it","clientId":"m2"}`) // a retry
	e.must("a", ann, `{"action":"send","channel":"general","text":"hello","clientId":"m3"}`)
	msgs := e.history("general")
	if len(msgs) != 2 || msgs[0].Text != "**** it" || msgs[1].Text != "hello" {
		t.Fatalf("history %+v, want the redacted text and the allowed one", msgs)
	}
	var acks []float64
	for _, f := range e.gw.take("a") {
		if f["type"] == "ack" {
			acks = append(acks, f["seq"].(float64))
		}
	}
	if len(acks) != 3 || acks[0] != acks[1] || acks[2] <= acks[0] {
		t.Errorf("acks %v, want the retry acked with the first seq", acks)
	}
	for _, f := range e.gw.take("b") {
		if f["type"] == "message" && strings.Contains(f["text"].(string), "darn") {
			t.Errorf("the original text reached a member: %v", f)
		}
	}

	// With no echo the ack is the sender's only copy: it carries the text
	// a hook replaced, and no text when the hook let the message through.
	e.must("a", ann, `{"action":"send","channel":"general","text":"darn again","clientId":"m4","echo":false}`)
	e.must("a", ann, `{"action":"send","channel":"general","text":"fine","clientId":"m5","echo":false}`)
	var texts []any
	for _, f := range e.gw.take("a") {
		if f["type"] == "ack" {
			texts = append(texts, f["text"])
		} else {
			t.Errorf("a send with no echo sent the sender %v", f)
		}
	}
	if len(texts) != 2 || texts[0] != "**** again" || texts[1] != nil {
		t.Errorf("no-echo acks carry texts %v, want [**** again <nil>]", texts)
	}
	if len(hk.asked) != 6 || hk.asked[0].User.UserID != "u-a" || hk.asked[0].User.UserName != "User a" || hk.asked[0].ConnectionID != "a" ||
		hk.asked[0].Channel != "general" || hk.asked[0].Version != events.HookVersion || hk.asked[0].Action != events.HookActionSend || hk.asked[0].RequestID == "" {
		t.Errorf("the hook was asked %+v", hk.asked)
	}
	m := e.logs.String() + e.metrics.String() // metrics ride the request's log line
	for _, name := range []string{contract.MetricHookRejected, contract.MetricHookReplaced, contract.MetricHookAllowed, contract.MetricHookLatency} {
		if !strings.Contains(m, `"`+name+`"`) {
			t.Errorf("metric %s not emitted", name)
		}
	}
}

// TestHookFailureModes: a late hook, a failing one and one with an
// unusable answer store the message as sent when failing open, and refuse
// it with "unavailable" (nothing stored) when failing closed.
func TestHookFailureModes(t *testing.T) {
	answers := map[string]func(events.BeforeSend) (events.Verdict, error){
		"late": func(events.BeforeSend) (events.Verdict, error) {
			time.Sleep(200 * time.Millisecond)
			return events.Verdict{Verdict: events.Allow}, nil
		},
		"failing": func(events.BeforeSend) (events.Verdict, error) { return events.Verdict{}, errors.New("hook crashed") },
		"blank replacement": func(events.BeforeSend) (events.Verdict, error) {
			return events.Verdict{Verdict: events.Replace, Text: "   "}, nil
		},
		"control characters": func(events.BeforeSend) (events.Verdict, error) {
			return events.Verdict{Verdict: events.Replace, Text: "a\x00b"}, nil
		},
		"unknown verdict": func(events.BeforeSend) (events.Verdict, error) { return events.Verdict{Verdict: "maybe"}, nil },
	}
	for name, answer := range answers {
		for _, closed := range []bool{false, true} {
			e := newEnv(t, testConfig())
			hk := &fakeHook{answer: answer}
			e.chat.WithHook(&deadlineHook{hk}, handler.HookConfig{Timeout: 50 * time.Millisecond, FailClosed: closed})
			e.joinAll("general", "a")
			e.must("a", user("u-a", "User a"), `{"action":"send","channel":"general","text":"hi","clientId":"m1"}`)
			frames := e.gw.take("a")
			stored := len(e.history("general"))
			if closed {
				if stored != 0 || len(frames) != 1 || frames[0]["code"] != "unavailable" {
					t.Errorf("%s, fail closed: stored %d, frames %v; want nothing stored and an unavailable error", name, stored, frames)
				}
			} else if stored != 1 || e.history("general")[0].Text != "hi" {
				t.Errorf("%s, fail open: stored %d, want the message as sent", name, stored)
			}
			if !strings.Contains(e.logs.String()+e.metrics.String(), `"`+contract.MetricHookFailed+`"`) {
				t.Errorf("%s: HookFailed not emitted", name)
			}
		}
	}
}

// deadlineHook makes a fake hook honour its context as the real client
// does (the HTTP call ends with it).
type deadlineHook struct{ h handler.Hook }

func (d *deadlineHook) Check(ctx context.Context, in events.BeforeSend) (events.Verdict, error) {
	type result struct {
		v   events.Verdict
		err error
	}
	ch := make(chan result, 1)
	go func() { v, err := d.h.Check(ctx, in); ch <- result{v, err} }()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return events.Verdict{}, ctx.Err()
	}
}

func TestHookConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := handler.HookConfigFromEnv(env(nil))
	if err != nil || c.Function != "" || c.Timeout != handler.DefaultHookTimeout || c.FailClosed {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	c, err = handler.HookConfigFromEnv(env(map[string]string{contract.EnvHookFunction: "arn:aws:lambda:eu-west-1:1:function:f", contract.EnvHookTimeout: "150ms", contract.EnvHookFailure: "closed"}))
	if err != nil || c.Timeout != 150*time.Millisecond || !c.FailClosed || c.Function == "" {
		t.Errorf("set: %+v, %v", c, err)
	}
	_, err = handler.HookConfigFromEnv(env(map[string]string{contract.EnvHookTimeout: "forever", contract.EnvHookFailure: "ajar"}))
	if err == nil || !strings.Contains(err.Error(), contract.EnvHookTimeout) || !strings.Contains(err.Error(), contract.EnvHookFailure) {
		t.Errorf("bad values: %v, want both named", err)
	}
}

// TestHookSeesEditsAndReplies: an edit's new text passes the hook like a
// message (action "edit" with the message's seq): a rejected edit changes
// nothing and the sender gets the error frame, a redacted one stores the
// replacement (and its retry is the same edit); a reply is a send with
// replyTo. Reactions and deletes carry no text and never ask.
func TestHookSeesEditsAndReplies(t *testing.T) {
	e := newEnv(t, testConfig())
	hk := &fakeHook{answer: wordFilter}
	e.chat.WithHook(hk, handler.HookConfig{Function: "filter", Timeout: time.Second})
	e.joinAll("general", "a", "b")
	a := user("u-a", "User a")
	seq := e.sendAs("a", a, "general", "first", "m1")

	frames := e.answer("a", a, fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"spam spam","clientId":"e1"}`, seq))
	if f := one(t, frames, "error"); f["code"] != "rejected" || f["message"] != "no spam here" {
		t.Errorf("rejected edit: %v", f)
	}
	if got := stateOf(t, e.historyOf("b", user("u-b", "User b"), "general", 0), seq); got["text"] != "first" || got["rev"] != nil {
		t.Errorf("after a rejected edit history serves %v, want the message unchanged", got)
	}
	body := fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"darn typo","clientId":"e2"}`, seq)
	first := one(t, e.answer("a", a, body), "ack")
	again := one(t, e.answer("a", a, body), "ack") // a retry of the same edit
	if first["seq"] != again["seq"] {
		t.Errorf("the retried edit was acked %v, then %v", first, again)
	}
	if got := stateOf(t, e.historyOf("b", user("u-b", "User b"), "general", 0), seq); got["text"] != "**** typo" {
		t.Errorf("after a redacted edit history serves %v, want the replacement", got)
	}
	e.answer("a", a, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":"👍"}`, seq))
	e.answer("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"a reply","clientId":"m2","replyTo":%d}`, seq))
	e.answer("a", a, fmt.Sprintf(`{"action":"delete","channel":"general","seq":%d,"clientId":"d1"}`, seq))

	var asked []string
	for _, in := range hk.asked {
		asked = append(asked, fmt.Sprintf("%s %s seq=%d replyTo=%d %q", in.Action, in.ClientID, in.Seq, in.ReplyTo, in.Text))
	}
	want := []string{
		`send m1 seq=0 replyTo=0 "first"`,
		fmt.Sprintf(`edit e1 seq=%d replyTo=0 "spam spam"`, seq),
		fmt.Sprintf(`edit e2 seq=%d replyTo=0 "darn typo"`, seq),
		fmt.Sprintf(`edit e2 seq=%d replyTo=0 "darn typo"`, seq),
		fmt.Sprintf(`send m2 seq=0 replyTo=%d "a reply"`, seq),
	}
	if strings.Join(asked, "\n") != strings.Join(want, "\n") {
		t.Errorf("the hook was asked:\n%s\nwant:\n%s", strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
}
