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
// join, send (with seq 1) and history with the protocol's frames.
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
