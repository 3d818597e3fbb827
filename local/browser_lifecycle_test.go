package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scripts of the lifecycle test. arguments[0] is a message's seq (or a
// text), arguments[1] an emoji.
const (
	seqByText = `const e = [...document.querySelectorAll("#messages li.msg[data-seq]")].find(e => e.querySelector(".text").textContent === arguments[0]);
		return e ? e.dataset.seq : ""`
	noteOfSeq  = `const e = document.querySelector('#messages li.msg[data-seq="'+arguments[0]+'"] .note'); return e ? e.textContent : ""`
	reactionOf = `const b = document.querySelector('#messages li.msg[data-seq="'+arguments[0]+'"] button.reaction[data-emoji="'+arguments[1]+'"]');
		return b ? b.textContent + (b.classList.contains("mine") ? " mine" : "") : ""`
	repliesOf = `const b = document.querySelector('#messages li.msg[data-seq="'+arguments[0]+'"] button.replies'); return b ? b.textContent : ""`
	unreadOf  = `const b = document.querySelector('#channels li[data-channel="'+arguments[0]+'"] .unread'); return b ? b.textContent : ""`
	pageHTML  = `return document.getElementById("chat-view").innerHTML`
)

// testLifecycle: two pages in one channel; erin's message is edited,
// reacted to, replied to in its thread, typed about and deleted, and each
// change shows in the other page in its current state: the replaced and
// the deleted text appear nowhere. Unread badges count a channel not in
// view and clear when it is opened.
func testLifecycle(t *testing.T, wd *webDriver, erin, frank string) {
	outer := wd.t
	wd.t = t
	defer func() { wd.t = outer }()
	const ch = "life"
	for _, w := range []string{erin, frank} {
		wd.switchTo(w)
		wd.typeInto("#channel", ch)
		wd.click("#join")
		wd.waitFor("joined "+ch, `return document.getElementById("current").textContent === "#"+arguments[0]`, ch)
	}
	wd.switchTo(erin)
	draft := fmt.Sprintf("draft with a secret at %d", time.Now().UnixNano())
	wd.typeInto("#text", draft)
	wd.click("#send")
	wd.waitFor("erin's message acked", hasMessage, draft)
	seq, _ := wd.script(seqByText, draft).(string)

	// Edit: erin's own message; frank sees the new text, marked edited.
	wd.jsClick(`#messages li.msg[data-seq="` + seq + `"] button.edit`)
	final := "the final text"
	wd.typeInto("#text", final)
	wd.click("#send")
	wd.switchTo(frank)
	wd.waitFor("the edited text in frank's page", `const e = document.querySelector('#messages li.msg[data-seq="'+arguments[0]+'"] .text'); return !!e && e.textContent === arguments[1]`, seq, final)
	if note := wd.script(noteOfSeq, seq); note != "(edited)" {
		t.Errorf("frank's page marks the edited message %q, want (edited)", note)
	}
	if html, _ := wd.script(pageHTML).(string); strings.Contains(html, "secret") {
		t.Error("frank's page still shows the replaced text")
	}
	if n := len(wd.script(`return [...document.querySelectorAll('#messages li.msg[data-seq="'+arguments[0]+'"] button.edit')]`, seq).([]any)); n != 0 {
		t.Errorf("frank's page offers to edit erin's message (%d edit buttons)", n)
	}

	// Reactions: frank reacts; both pages count it, only frank's says mine.
	wd.jsClick(`#messages li.msg[data-seq="` + seq + `"] button.react[data-emoji="👍"]`)
	wd.waitValue("frank's reaction, his own", reactionOf, "👍 1 mine", seq, "👍")
	wd.switchTo(erin)
	wd.waitFor("frank's reaction in erin's page", `const b = document.querySelector('#messages li.msg[data-seq="'+arguments[0]+'"] button.reaction[data-emoji="👍"]');
		return !!b && b.textContent === "👍 1" && !b.classList.contains("mine")`, seq)

	// Thread: frank replies; erin's page counts it and shows it in the thread.
	wd.switchTo(frank)
	wd.jsClick(`#messages li.msg[data-seq="` + seq + `"] button.replies`)
	wd.waitFor("the thread open", `return !document.getElementById("thread").hidden`)
	reply := fmt.Sprintf("a reply at %d", time.Now().UnixNano())
	wd.typeInto("#reply-text", reply)
	wd.click("#reply")
	wd.switchTo(erin)
	wd.waitValue("the reply counted in erin's page", repliesOf, "1 reply", seq)
	if got := wd.script(`return [...document.querySelectorAll("#messages li.msg .text")].some(e => e.textContent === arguments[0])`, reply); got != false {
		t.Error("the reply shows in the channel's timeline, want it in its thread only")
	}
	wd.jsClick(`#messages li.msg[data-seq="` + seq + `"] button.replies`)
	wd.waitFor("the reply in erin's thread view", `return [...document.querySelectorAll("#thread-messages li.reply .text")].some(e => e.textContent === arguments[0])`, reply)
	wd.jsClick("#close-thread")

	// Typing: frank types; erin's page says so, then forgets it. Frank's
	// client sent typing while he wrote his reply, and sends at most one
	// per TypingEvery (3 s): let that pass first.
	time.Sleep(3 * time.Second)
	wd.switchTo(frank)
	wd.typeInto("#text", "typing something")
	wd.switchTo(erin)
	wd.waitFor("frank is typing, in erin's page", `return document.getElementById("typing").textContent === "frank is typing…"`)
	wd.waitFor("the typing indicator expired", `return document.getElementById("typing").textContent === ""`)
	wd.switchTo(frank)
	wd.typeInto("#text", "")

	// Delete: erin's message becomes a tombstone in both pages, its reply
	// count kept; its text is gone.
	wd.switchTo(erin)
	wd.jsClick(`#messages li.msg[data-seq="` + seq + `"] button.delete`)
	for _, w := range []struct{ name, handle string }{{"erin", erin}, {"frank", frank}} {
		wd.switchTo(w.handle)
		wd.waitValue("the delete in "+w.name+"'s page", noteOfSeq, "message deleted", seq)
		if html, _ := wd.script(pageHTML).(string); strings.Contains(html, final) || strings.Contains(html, "secret") {
			t.Errorf("%s's page still shows the deleted text", w.name)
		}
		if got := wd.script(repliesOf, seq); got != "1 reply" {
			t.Errorf("%s's page: the deleted message's replies %v, want 1 reply", w.name, got)
		}
	}

	// Unread: erin writes in another channel while frank looks at this one.
	const other = "life-other"
	for _, w := range []string{frank, erin} {
		wd.switchTo(w)
		wd.typeInto("#channel", other)
		wd.click("#join")
		wd.waitFor("joined "+other, `return document.getElementById("current").textContent === "#"+arguments[0]`, other)
	}
	wd.switchTo(frank)
	wd.jsClick(`#channels li[data-channel="` + ch + `"]`)
	wd.switchTo(erin)
	for i := range 2 {
		text := fmt.Sprintf("unread %d at %d", i, time.Now().UnixNano())
		wd.typeInto("#text", text)
		wd.click("#send")
		wd.waitFor("erin's message acked", hasMessage, text)
	}
	wd.switchTo(frank)
	wd.waitValue("2 unread in frank's badge", unreadOf, "2", other)
	wd.jsClick(`#channels li[data-channel="` + other + `"]`)
	wd.waitValue("the badge cleared", unreadOf, "", other)
	wd.waitFor("the read stored", `const s = window.wschatPage.channels.get(arguments[0]).sub; return s.lastRead === s.last`, other)
	// The read state is the user's, not the tab's: the server's list agrees.
	list := wd.script(`return window.wschatPage.client.channels().then(l => l.find(c => c.channel === arguments[0]))`, other)
	if m, _ := list.(map[string]any); m == nil || m["unread"] != 0.0 {
		t.Errorf("frank's channel list for %s after reading = %v, want 0 unread", other, list)
	}
	t.Logf("message %s: edited, reacted to, replied to, typed about and deleted across two pages; unread badge 2 → 0", seq)
}

// jsClick clicks the element css selects from inside the page: the page
// re-renders its lists on every event, so a reference WebDriver found a
// moment before may be stale by the time it clicks.
func (wd *webDriver) jsClick(css string) {
	wd.t.Helper()
	if ok, _ := wd.script(`const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true`, css).(bool); !ok {
		wd.t.Fatalf("no element %s to click", css)
	}
}

// waitValue polls a script until what it returns prints as want.
func (wd *webDriver) waitValue(what, js, want string, args ...any) {
	wd.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got any
	for time.Now().Before(deadline) {
		if got = wd.script(js, args...); fmt.Sprint(got) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	wd.t.Fatalf("browser: %s: got %q, want %q within 30s", what, got, want)
}
