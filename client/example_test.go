package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/client"
)

// echoServer is the smallest server that lets the examples run: it answers
// join, send (with seq 1), edit (of seq 1, as seq 2) and history with the
// protocol's frames.
func echoServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{client.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var out []string
			switch s := string(b); {
			case strings.Contains(s, `"join"`):
				out = []string{`{"type":"joined","channel":"general","userId":"u1","userName":"Ann","at":"2026-11-26T20:30:00.000Z","lastSeq":0}`}
			case strings.Contains(s, `"history"`):
				out = []string{`{"type":"history","channel":"general","messages":[],"more":false,"next":0,"through":0,"oldest":0,"truncated":false}`}
			case strings.Contains(s, `"edit"`):
				id := s[strings.Index(s, `"clientId":"`)+12:]
				id = id[:strings.Index(id, `"`)]
				out = []string{
					`{"type":"update","channel":"general","seq":2,"action":"edit","target":1,"userId":"u1","userName":"Ann","clientId":"` + id + `","at":"2026-11-26T20:30:06.000Z",` +
						`"message":{"seq":1,"userId":"u1","userName":"Ann","text":"hi all","clientId":"c1","sentAt":"2026-11-26T20:30:05.123Z","rev":2,"editedAt":"2026-11-26T20:30:06.000Z"}}`,
					`{"type":"ack","action":"edit","channel":"general","clientId":"` + id + `","seq":2}`,
				}
			case strings.Contains(s, `"send"`):
				id := s[strings.Index(s, `"clientId":"`)+12:]
				id = id[:strings.Index(id, `"`)]
				out = []string{
					`{"type":"message","channel":"general","seq":1,"userId":"u1","userName":"Ann","text":"hi","clientId":"` + id + `","sentAt":"2026-11-26T20:30:05.123Z"}`,
					`{"type":"ack","channel":"general","clientId":"` + id + `","seq":1}`,
				}
			}
			for _, o := range out {
				_ = ws.Write(ctx, websocket.MessageText, []byte(o))
			}
		}
	}))
}

func Example() {
	srv := echoServer()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{
		Token: func(context.Context) (string, error) { return "my-jwt", nil },
	})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()
	sub, err := c.Join(ctx, "general")
	if err != nil {
		fmt.Println("join:", err)
		return
	}
	seq, err := c.Send(ctx, "general", "hi")
	fmt.Println("acked as seq", seq, err)
	for ev := range sub.Events() {
		if ev.Type == client.EventMessage {
			fmt.Printf("%d %s: %s\n", ev.Message.Seq, ev.Message.UserName, ev.Message.Text)
			break
		}
	}
	// Output:
	// acked as seq 1 <nil>
	// 1 Ann: hi
}

func ExampleClient_Send_errors() {
	srv := echoServer()
	defer srv.Close()
	c, err := client.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()
	_, err = c.Send(context.Background(), "random", "hi")
	fmt.Println(err)
	_, err = c.Send(context.Background(), "general", strings.Repeat("a", client.MaxTextRunes+1))
	fmt.Println(err)
	// Output:
	// wschat client: channel not joined: random
	// wschat client: text too long: 4001 code points, at most 4000
}

// The message lifecycle: an edit is an update in the stream, and the
// subscription's model holds the message's current state.
func ExampleClient_Edit() {
	srv := echoServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()
	sub, err := c.Join(ctx, "general")
	if err != nil {
		fmt.Println("join:", err)
		return
	}
	seq, _ := c.Send(ctx, "general", "hi")
	update, err := c.Edit(ctx, "general", seq, "hi all")
	fmt.Println("edit acked as seq", update, err)
	for ev := range sub.Events() {
		if ev.Type == client.EventUpdate {
			fmt.Println(ev.Update.UserName, ev.Update.Action, ev.Update.Target)
			break
		}
	}
	m, _ := sub.Message(seq)
	fmt.Printf("%d: %q edited %v, rev %d\n", m.Seq, m.Text, m.Edited, m.Rev)
	// Output:
	// edit acked as seq 2 <nil>
	// Ann edit 1
	// 1: "hi all" edited true, rev 2
}
