package handler_test

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
)

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
