package handler_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"wschat/internal/chat"
)

func TestConnectRegistersTheAuthorizedUser(t *testing.T) {
	e := newEnv(t, testConfig())
	req := fixture(t, "connect")
	resp, err := e.connect.Handle(t.Context(), req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("connect = %d, %v; want 200", resp.StatusCode, err)
	}
	if got := resp.Headers["Sec-WebSocket-Protocol"]; got != "wschat.v1" {
		t.Errorf("Sec-WebSocket-Protocol = %q, want wschat.v1 echoed (and never the token)", got)
	}
	c, err := e.store.Connection(t.Context(), "X1connAAAAAAA=")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if c.UserID != "user-ann" || c.UserName != "Ann" || !c.ConnectedAt.Equal(now) {
		t.Errorf("connection = %+v, want user-ann/Ann connected at %v", c, now)
	}
	if want := now.Add(2*time.Hour + 10*time.Minute); !c.ExpiresAt.Equal(want) {
		t.Errorf("connection expires at %v, want %v (2h10m after connect)", c.ExpiresAt, want)
	}
}

func TestConnectSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		multi   map[string][]string
		want    string
	}{
		{"with token", map[string]string{"Sec-WebSocket-Protocol": "wschat.v1, abc.def.ghi"}, nil, "wschat.v1"},
		{"alone", map[string]string{"Sec-WebSocket-Protocol": "wschat.v1"}, nil, "wschat.v1"},
		{"lower-case header", map[string]string{"sec-websocket-protocol": "abc.def.ghi,wschat.v1"}, nil, "wschat.v1"},
		{"multi-value only", nil, map[string][]string{"Sec-WebSocket-Protocol": {"wschat.v1", "abc.def.ghi"}}, "wschat.v1"},
		{"other protocol", map[string]string{"Sec-WebSocket-Protocol": "chat.v2"}, nil, ""},
		{"prefix only", map[string]string{"Sec-WebSocket-Protocol": "wschat.v10"}, nil, ""},
		{"none", nil, nil, ""},
	}
	e := newEnv(t, testConfig())
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := fixture(t, "connect")
			req.RequestContext.ConnectionID = fmt.Sprintf("sp%d", i)
			req.Headers, req.MultiValueHeaders = tt.headers, tt.multi
			resp, err := e.connect.Handle(t.Context(), req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("connect = %d, %v", resp.StatusCode, err)
			}
			if got := resp.Headers["Sec-WebSocket-Protocol"]; got != tt.want {
				t.Errorf("Sec-WebSocket-Protocol = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAnonymousConnectionCanChat(t *testing.T) {
	e := newEnv(t, testConfig())
	e.open("anon1", nil)
	e.must("anon1", nil, `{"action":"join","channel":"general"}`)
	e.must("anon1", nil, `{"action":"send","channel":"general","text":"hi","clientId":"c"}`)
	h := e.history("general")
	if len(h) != 1 || h[0].UserID != "anon-anon1" {
		t.Errorf("history = %+v, want one message by anon-anon1", h)
	}
}

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

func TestMembersPages(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 120)
	ctx := t.Context()
	now := e.clock.Now()
	for _, id := range members {
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "u" + id, UserName: id}, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := e.store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.AddMember(ctx, chat.Member{Channel: "big", ConnectionID: id, Identity: c.Identity, JoinedAt: now}, 20); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < 5; page++ {
		body := `{"action":"members","channel":"big"}`
		if cursor != "" {
			body = `{"action":"members","channel":"big","cursor":"` + cursor + `"}`
		}
		e.must("m000", user("um000", "m000"), body)
		f := e.gw.take("m000")
		if len(f) != 1 || f[0]["type"] != "members" {
			t.Fatalf("members page %d = %v", page, f)
		}
		list := f[0]["members"].([]any)
		if len(list) > 100 {
			t.Errorf("page %d has %d members, want at most 100", page, len(list))
		}
		for _, m := range list {
			seen[m.(map[string]any)["userId"].(string)] = true
		}
		next, _ := f[0]["next"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 120 {
		t.Errorf("pages listed %d distinct members, want 120", len(seen))
	}
}

func TestHistoryPagesInSeqOrder(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a")
	a := user("u-a", "User a")
	for i := 1; i <= 7; i++ {
		e.must("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"m%d","clientId":"k%d"}`, i, i))
	}
	e.gw.take("a")
	tests := []struct {
		body     string
		wantSeqs string
		wantMore bool
		wantNext float64
	}{
		{`{"action":"history","channel":"general","limit":3}`, "1,2,3", true, 3},
		{`{"action":"history","channel":"general","after":3,"limit":3}`, "4,5,6", true, 6},
		{`{"action":"history","channel":"general","after":6}`, "7", false, 7},
		{`{"action":"history","channel":"general","after":7}`, "", false, 7},
		{`{"action":"history","channel":"general","after":999999}`, "", false, 999999},
	}
	for _, tt := range tests {
		e.must("a", a, tt.body)
		f := e.gw.take("a")
		if len(f) != 1 || f[0]["type"] != "history" {
			t.Fatalf("%s: frames %v", tt.body, f)
		}
		var seqs []string
		for _, m := range f[0]["messages"].([]any) {
			mm := m.(map[string]any)
			seqs = append(seqs, fmt.Sprint(mm["seq"]))
			if mm["text"] != "m"+fmt.Sprint(mm["seq"]) {
				t.Errorf("%s: message %v has the wrong text", tt.body, mm)
			}
		}
		if got := strings.Join(seqs, ","); got != tt.wantSeqs || f[0]["more"] != tt.wantMore || f[0]["next"] != tt.wantNext {
			t.Errorf("%s = seqs %q more %v next %v, want %q more %v next %v",
				tt.body, got, f[0]["more"], f[0]["next"], tt.wantSeqs, tt.wantMore, tt.wantNext)
		}
	}
}

func TestHistoryFitsOneFrame(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a")
	now := e.clock.Now()
	worst := strings.Repeat("\u0001", 4000) // 6 bytes each once escaped
	for seq := int64(1); seq <= 40; seq++ {
		m := chat.Message{Channel: "general", Seq: seq, Identity: chat.Identity{UserID: "u", UserName: "U"}, Text: worst, ClientID: "k", SentAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := e.store.PutMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	e.must("a", user("u-a", "User a"), `{"action":"history","channel":"general","limit":100}`)
	f := e.gw.take("a")
	if len(f) != 1 {
		t.Fatalf("frames = %d, want 1", len(f))
	}
	b, _ := json.Marshal(f[0])
	n := len(f[0]["messages"].([]any))
	if len(b) > 128*1024 {
		t.Errorf("history frame is %d bytes, over API Gateway's 128 KB", len(b))
	}
	if n == 0 || n == 40 || f[0]["more"] != true || f[0]["next"] != float64(n) {
		t.Errorf("history frame has %d messages, more %v, next %v; want a cut page with more and next = %d", n, f[0]["more"], f[0]["next"], n)
	}
}

func TestDisconnectRemovesMembershipsAndAnnounces(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("one", "a", "b")
	e.joinAll("two", "c")
	ann := user("user-ann", "Ann")
	e.open("X1connAAAAAAA=", ann)
	e.must("X1connAAAAAAA=", ann, `{"action":"join","channel":"one"}`)
	e.must("X1connAAAAAAA=", ann, `{"action":"join","channel":"two"}`)
	for _, id := range []string{"a", "b", "c", "X1connAAAAAAA="} {
		e.gw.take(id)
	}

	req := fixture(t, "disconnect")
	for i := range 2 { // API Gateway may deliver it twice; the second finds nothing
		resp, err := e.disconnect.Handle(t.Context(), req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("disconnect #%d = %d, %v; want 200", i+1, resp.StatusCode, err)
		}
	}
	for _, tt := range []struct {
		id, channel string
	}{{"a", "one"}, {"b", "one"}, {"c", "two"}} {
		f := e.gw.take(tt.id)
		if len(f) != 1 || f[0]["type"] != "left" || f[0]["channel"] != tt.channel || f[0]["userId"] != "user-ann" {
			t.Errorf("%s got %v, want one left event for Ann in %s", tt.id, f, tt.channel)
		}
	}
	if _, err := e.store.Connection(t.Context(), "X1connAAAAAAA="); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("connection after disconnect: %v, want ErrNotFound", err)
	}
	for _, ch := range []string{"one", "two"} {
		if _, err := e.store.Member(t.Context(), ch, "X1connAAAAAAA="); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("membership of %s after disconnect: %v, want ErrNotFound", ch, err)
		}
	}
}

func TestRequestsOnAnUnregisteredConnectionAreUnauthorized(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, body := range []string{
		`{"action":"join","channel":"general"}`,
		`{"action":"send","channel":"general","text":"x","clientId":"k"}`,
	} {
		resp, err := e.do("ghost", user("u", "U"), body)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s = %d, %v; want 200", body, resp.StatusCode, err)
		}
		if f := e.gw.take("ghost"); countCode(f, "unauthorized") != 1 {
			t.Errorf("%s got %v, want unauthorized", body, f)
		}
	}
	if _, err := e.store.Connection(t.Context(), "ghost"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a request on an unregistered connection created it: %v", err)
	}
}
