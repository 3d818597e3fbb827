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
