package handler_test

import (
	"slices"
	"strings"
	"testing"
)

func TestJoinAndLeaveAnnouncePresence(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	carol := user("u-carol", "Carol")
	e.open("c", carol)

	e.must("c", carol, `{"action":"join","channel":"general"}`)
	for _, id := range []string{"a", "b", "c"} {
		f := e.gw.take(id)
		if len(f) != 1 || f[0]["type"] != "joined" || f[0]["userId"] != "u-carol" || f[0]["userName"] != "Carol" || f[0]["channel"] != "general" {
			t.Errorf("%s got %v, want one joined event for Carol", id, f)
		}
	}

	e.must("c", carol, `{"action":"join","channel":"general"}`) // a repeat
	if f := e.gw.take("c"); countType(f, "joined") != 1 {
		t.Errorf("repeated join: joiner got %v, want one joined", f)
	}
	if f := e.gw.take("a"); len(f) != 0 {
		t.Errorf("repeated join: others got %v, want nothing", f)
	}

	e.must("c", carol, `{"action":"members","channel":"general"}`)
	f := e.gw.take("c")
	if len(f) != 1 || f[0]["type"] != "members" {
		t.Fatalf("members answer = %v", f)
	}
	var names []string
	for _, m := range f[0]["members"].([]any) {
		names = append(names, m.(map[string]any)["userName"].(string))
	}
	slices.Sort(names)
	if got := strings.Join(names, ","); got != "Carol,User a,User b" {
		t.Errorf("members = %v, want Carol, User a, User b", names)
	}

	e.must("c", carol, `{"action":"leave","channel":"general"}`)
	for _, id := range []string{"a", "b", "c"} {
		f := e.gw.take(id)
		if len(f) != 1 || f[0]["type"] != "left" || f[0]["userId"] != "u-carol" {
			t.Errorf("%s got %v, want one left event for Carol", id, f)
		}
	}
	e.must("c", carol, `{"action":"send","channel":"general","text":"still here?","clientId":"x"}`)
	if f := e.gw.take("c"); countCode(f, "not_member") != 1 {
		t.Errorf("send after leave got %v, want not_member", f)
	}
}
