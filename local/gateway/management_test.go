package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"
)

// sdkClient is the real SDK client, as the handlers build it, pointed at the
// emulator's callback URL.
func sdkClient(a *testAPI) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(a.srv.URL + "/dev"),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestManagementAPIWithSDK(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	c := a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	client := sdkClient(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(id), Data: []byte(`{"type":"hello"}`),
	}); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := read(t, c); got != `{"type":"hello"}` {
		t.Errorf("client got %q", got)
	}

	info, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	if info.ConnectedAt == nil || time.Since(*info.ConnectedAt) > time.Minute || info.LastActiveAt == nil ||
		info.Identity == nil || aws.ToString(info.Identity.SourceIp) != "127.0.0.1" || aws.ToString(info.Identity.UserAgent) == "" {
		t.Errorf("GetConnection = %+v identity %+v", info, info.Identity)
	}

	if _, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	if code := closeStatus(t, c, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("close code %v after DeleteConnection", code)
	}
	a.discon.next(t)

	// Gone connections answer 410, which the SDK turns into *types.GoneException.
	for name, call := range map[string]func() error{
		"post": func() error {
			_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("x")})
			return err
		},
		"get": func() error {
			_, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
			return err
		},
		"delete": func() error {
			_, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String("bm9ub25vbm9ub24=")})
			return err
		},
	} {
		var gone *types.GoneException
		if err := call(); !errors.As(err, &gone) {
			t.Errorf("%s on a gone connection: err = %v, want *types.GoneException", name, err)
		}
	}

	// Over 128 KB is refused.
	c2 := a.dial(t, "", nil)
	c2.SetReadLimit(MaxMessageBytes)
	id2 := rc(a.connect.next(t))["connectionId"].(string)
	_, err = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(id2), Data: []byte(strings.Repeat("x", MaxMessageBytes+1)),
	})
	var tooLarge *types.PayloadTooLargeException
	if !errors.As(err, &tooLarge) {
		t.Errorf("oversized post: err = %v, want *types.PayloadTooLargeException", err)
	}
	// A large post arrives whole (in 32 KB frames).
	big := strings.Repeat("y", 100*1024)
	if _, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id2), Data: []byte(big)}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c2); got != big {
		t.Errorf("client got %d bytes, want %d", len(got), len(big))
	}
}

func TestPostLatency(t *testing.T) {
	a := newTestAPI(t, apiOptions{latency: 100 * time.Millisecond})
	a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := sdkClient(a).PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("post took %v, want at least the 100ms latency", d)
	}
}

// TestPosterGivingUpLeavesRecipientConnected: a poster that times out while
// its frame is being written to a slow reader must not close the reader's
// connection (API Gateway never does).
func TestPosterGivingUpLeavesRecipientConnected(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	c := a.dial(t, "", nil)
	c.SetReadLimit(MaxMessageBytes)
	id := rc(a.connect.next(t))["connectionId"].(string)
	client := sdkClient(a)
	frame := []byte(strings.Repeat("z", MaxMessageBytes))

	// The client reads nothing, so the socket buffers fill and a write
	// blocks; each post gives up after 200ms. Bounded: at most 400 posts.
	timedOut := false
	for i := 0; i < 400 && !timedOut; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: frame})
		cancel()
		timedOut = err != nil
	}
	if !timedOut {
		t.Fatal("no post blocked on the slow reader; the test did not exercise a cancelled write")
	}
	// The reader catches up: every frame it gets is whole, and the
	// connection still takes new posts.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		time.Sleep(500 * time.Millisecond)
		_, _ = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("after")})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("recipient's connection broke after a poster gave up: %v", err)
		}
		if string(got) == "after" {
			return
		}
		if len(got) != len(frame) {
			t.Fatalf("recipient got a %d-byte frame, want whole %d-byte frames", len(got), len(frame))
		}
	}
}
