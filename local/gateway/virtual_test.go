package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// virtualAPI serves a gateway's stage and admin endpoint, as the emulator
// mounts them, and returns its base URL.
func virtualAPI(t *testing.T, cfg Config) (*Gateway, string) {
	t.Helper()
	cfg.Stage = "dev"
	g := New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/dev/", g.Handler())
	mux.Handle("/@admin/", g.AdminHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func adminCall(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

func managementClient(base string) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(base + "/dev"),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func TestVirtualConnectionsWithSDK(t *testing.T) {
	g, base := virtualAPI(t, Config{VirtualConnections: true})
	var reg struct{ ConnectionIds []string }
	if code := adminCall(t, http.MethodPost, base+VirtualPath+"?count=3", &reg); code != http.StatusOK || len(reg.ConnectionIds) != 3 {
		t.Fatalf("register 3: %d %v", code, reg.ConnectionIds)
	}
	ids := reg.ConnectionIds
	client := managementClient(base)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	post := func(id string) error {
		_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{"type":"message"}`)})
		return err
	}
	for _, id := range []string{ids[0], ids[0], ids[1]} {
		if err := post(id); err != nil {
			t.Fatalf("PostToConnection(virtual %s): %v", id, err)
		}
	}
	info, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(ids[2])})
	if err != nil || info.ConnectedAt == nil || time.Since(*info.ConnectedAt) > time.Minute {
		t.Errorf("GetConnection(virtual) = %+v, %v", info, err)
	}
	if _, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(ids[2])}); err != nil {
		t.Errorf("DeleteConnection(virtual): %v", err)
	}
	var gone *types.GoneException
	if err := post(ids[2]); !errors.As(err, &gone) {
		t.Errorf("post after delete: %v, want GoneException", err)
	}
	if err := post("bm90LXZpcnR1YWw="); !errors.As(err, &gone) {
		t.Errorf("post to an unknown id: %v, want GoneException", err)
	}

	var st VirtualStats
	adminCall(t, http.MethodGet, base+VirtualPath+"?reset=1", &st)
	if want := (VirtualStats{Connections: 2, Posts: 3, Reached: 2}); st != want || g.VirtualStats() != (VirtualStats{Connections: 2}) {
		t.Errorf("stats = %+v, then %+v after reset; want %+v, then zero posts", st, g.VirtualStats(), want)
	}
	var removed map[string]int
	adminCall(t, http.MethodDelete, base+VirtualPath, &removed)
	if removed["removed"] != 2 || g.VirtualStats().Connections != 0 {
		t.Errorf("DELETE removed %v, %d left; want 2, 0", removed, g.VirtualStats().Connections)
	}
	for _, bad := range []string{"", "?count=0", "?count=x", fmt.Sprintf("?count=%d", MaxVirtualPerRequest+1)} {
		if code := adminCall(t, http.MethodPost, base+VirtualPath+bad, nil); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", bad, code)
		}
	}
}

// TestVirtualConnectionsAreBounded: one request registers at most
// MaxVirtualPerRequest ids and all requests together MaxVirtual (issue
// #25: a form post once registered a million per request, without end).
func TestVirtualConnectionsAreBounded(t *testing.T) {
	g, base := virtualAPI(t, Config{VirtualConnections: true})
	full := MaxVirtual / MaxVirtualPerRequest
	for i := range full {
		if code := adminCall(t, http.MethodPost, base+VirtualPath+fmt.Sprintf("?count=%d", MaxVirtualPerRequest), nil); code != http.StatusOK {
			t.Fatalf("request %d of %d: %d", i+1, full, code)
		}
	}
	if code := adminCall(t, http.MethodPost, base+VirtualPath+"?count=1", nil); code != http.StatusConflict {
		t.Errorf("one past %d: %d, want 409", MaxVirtual, code)
	}
	if n := g.VirtualStats().Connections; n != MaxVirtual {
		t.Errorf("%d registered, want %d", n, MaxVirtual)
	}
}

func TestVirtualConnectionsOffAnswer404(t *testing.T) {
	_, base := virtualAPI(t, Config{})
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		if code := adminCall(t, m, base+VirtualPath+"?count=1", nil); code != http.StatusNotFound {
			t.Errorf("%s without VirtualConnections: %d, want 404", m, code)
		}
	}
}

// TestVirtualConnectionsShareTheAccountLimit: posts to virtual ids are
// @connections calls like any other, so the account-wide bucket applies.
func TestVirtualConnectionsShareTheAccountLimit(t *testing.T) {
	g, base := virtualAPI(t, Config{VirtualConnections: true, AccountLimit: &Limit{Rate: 1, Burst: 5}})
	var reg struct{ ConnectionIds []string }
	adminCall(t, http.MethodPost, base+VirtualPath+"?count=20", &reg)
	client := managementClient(base)
	ok, throttled := 0, 0
	for _, id := range reg.ConnectionIds {
		_, err := client.PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{}`)})
		var re *smithyhttp.ResponseError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("post: %v", err)
		}
	}
	st := g.VirtualStats()
	if ok < 5 || ok > 7 || throttled != 20-ok || st.Posts != int64(ok) || st.Reached != ok {
		t.Errorf("%d ok, %d throttled, stats %+v; want the burst of 5 (+1 or 2 refilled) through, the rest 429, only those counted", ok, throttled, st)
	}
	t.Logf("20 posts to virtual connections at 1/s burst 5: %d ok, %d answered 429", ok, throttled)
}
