package main

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/compose/composetest"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// TestNewHandler checks the wiring builds a handler; internal/compose tests
// every setting.
func TestNewHandler(t *testing.T) { composetest.CheckBuildsAndNeedsTable(t, newHandler) }

// TestExpiryClosesThroughTheCallback runs the handler main wires once: a
// connection whose grant ended gets token_expired and is closed through the
// callback URL; one whose grant runs on is left alone. A handler wired to
// the wrong table or endpoint fails it.
func TestExpiryClosesThroughTheCallback(t *testing.T) {
	d := composetest.New(t)
	var stdout bytes.Buffer
	h, err := newHandler(d.Getenv, &stdout)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	ctx := composetest.Context(t, "lambda-req-5")
	now := time.Now()
	for id, until := range map[string]time.Time{"old": now.Add(-time.Second), "fresh": now.Add(time.Hour)} {
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "u-" + id, UserName: id}, ConnectedAt: now.Add(-time.Minute),
			ExpiresAt: now.Add(time.Hour), Until: until}
		if err := d.Store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := d.Store.PutExpiry(ctx, id, until); err != nil {
			t.Fatal(err)
		}
	}
	st, err := h.Handle(ctx, map[string]any{"source": "aws.events", "detail-type": "Scheduled Event"})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if st.Closed != 1 || !slices.Equal(d.Deleted(), []string{"old"}) {
		t.Fatalf("run %+v closed %v; want only old closed", st, d.Deleted())
	}
	posts := d.Posts()
	if len(posts) != 1 || posts[0].ConnectionID != "old" || posts[0].Frame["code"] != "token_expired" {
		t.Errorf("posts = %+v; want one token_expired to old", posts)
	}
	composetest.CheckLogLines(t, stdout.Bytes(), "lambda-req-5") // the run closed one: a line at info
}
