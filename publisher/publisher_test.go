package publisher_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/publisher"
)

// server answers with the statuses in order (the last one repeats). Every
// attempt must be signed anew for execute-api; that the signature verifies is
// checked against the emulator's verifier in the server module
// (internal/publish), which this module must not import.
func server(t *testing.T, statuses []int, bodies []string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		_, _ = io.ReadAll(r.Body)
		if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=local/") || !strings.Contains(a, "/us-east-1/execute-api/aws4_request") {
			t.Errorf("attempt %d: Authorization %q is not a SigV4 signature for execute-api", i, a)
		}
		if r.Header.Get("X-Amz-Date") == "" {
			t.Errorf("attempt %d: no X-Amz-Date", i)
		}
		i = min(i, len(statuses)-1)
		w.WriteHeader(statuses[i])
		_, _ = io.WriteString(w, bodies[i])
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(t *testing.T, endpoint string) *publisher.Client {
	c, err := publisher.New(publisher.Options{Endpoint: endpoint + "/@http/dev", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), BaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesAndTypedErrors(t *testing.T) {
	ok := `{"channel":"general","id":"o1","seq":7}`
	tests := []struct {
		name     string
		statuses []int
		bodies   []string
		wantErr  error
		attempts int32
	}{
		{"ok", []int{200}, []string{ok}, nil, 1},
		{"throttled twice, then ok", []int{429, 429, 200}, []string{`{"message":"Too Many Requests"}`, `{"message":"Too Many Requests"}`, ok}, nil, 3},
		{"a 503, then ok", []int{503, 200}, []string{`{"code":"unavailable","message":"retry"}`, ok}, nil, 2},
		{"bad field: no retry", []int{400}, []string{`{"code":"invalid_field","message":"channel must match"}`}, publisher.ErrInvalid, 1},
		{"refused signature", []int{403}, []string{`{"message":"Forbidden"}`}, publisher.ErrForbidden, 1},
		{"unknown route", []int{404}, []string{`{"message":"Not Found"}`}, publisher.ErrNotFound, 1},
		{"too large", []int{413}, []string{`{"code":"too_large","message":"text is 4001 characters"}`}, publisher.ErrTooLarge, 1},
		{"always throttled", []int{429}, []string{`{"message":"Too Many Requests"}`}, publisher.ErrThrottled, 4},
		{"always failing", []int{500}, []string{`{"code":"internal","message":"boom"}`}, publisher.ErrServer, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := server(t, tt.statuses, tt.bodies)
			got, err := client(t, srv.URL).Publish(context.Background(), "general", "o1", "shipped")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && got.Seq != 7) {
				t.Errorf("Publish = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			var perr *publisher.Error
			if tt.wantErr != nil && (!errors.As(err, &perr) || perr.Message == "") {
				t.Errorf("error %v is not an *Error with a message", err)
			}
			if n.Load() != tt.attempts {
				t.Errorf("%d attempts, want %d", n.Load(), tt.attempts)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	for _, o := range []publisher.Options{
		{Endpoint: "ftp://x", Region: "us-east-1", Credentials: creds},
		{Endpoint: "http://127.0.0.1:1", Credentials: creds},
		{Endpoint: "http://127.0.0.1:1", Region: "us-east-1"},
	} {
		if _, err := publisher.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestAccessCalls: each access method calls its route (method, path with
// escaped parameters, query) with the body the API reads, and decodes the
// answer; 409 is ErrConflict.
func TestAccessCalls(t *testing.T) {
	type call struct{ method, path, query, body string }
	var got []call
	answers := map[string]string{
		"PUT /@http/dev/channels/board":                         `{"channel":"board","created":true,"members":2}`,
		"PUT /@http/dev/channels/board/members/bob@example.com": `{"channel":"board","userId":"bob@example.com","added":true}`,
		"DELETE /@http/dev/channels/board/members/bob":          `{"channel":"board","userId":"bob","removed":true,"connections":2}`,
		"GET /@http/dev/channels/board/members":                 `{"channel":"board","members":[{"userId":"ann","role":"member","addedAt":"2026-11-26T20:30:00Z"}],"next":"x"}`,
		"PUT /@http/dev/users/ann/revocation":                   `{"userId":"ann","until":"2026-11-27T00:00:00Z","closed":1,"gone":0}`,
		"PUT /@http/dev/channels/dm-x/members/eve":              `{"code":"conflict","message":"a direct message"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, call{r.Method, r.URL.Path, r.URL.RawQuery, string(b)})
		a, ok := answers[r.Method+" "+r.URL.Path]
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
		case strings.Contains(a, `"code":"conflict"`):
			w.WriteHeader(http.StatusConflict)
		}
		_, _ = io.WriteString(w, a)
	}))
	defer srv.Close()
	c := client(t, srv.URL)
	ctx := context.Background()
	pc, err := c.CreatePrivate(ctx, "board", publisher.ListedMember{UserID: "ann", UserName: "Ann"}, publisher.ListedMember{UserID: "bob"})
	if err != nil || !pc.Created || pc.Members != 2 {
		t.Errorf("CreatePrivate = %+v, %v", pc, err)
	}
	if a, err := c.AddMember(ctx, "board", "bob@example.com", ""); err != nil || !a.Added {
		t.Errorf("AddMember = %+v, %v", a, err)
	}
	if r, err := c.RemoveMember(ctx, "board", "bob"); err != nil || !r.Removed || r.Connections != 2 {
		t.Errorf("RemoveMember = %+v, %v", r, err)
	}
	if l, err := c.Members(ctx, "board", "abc"); err != nil || len(l.Members) != 1 || l.Members[0].UserID != "ann" || l.Next != "x" {
		t.Errorf("Members = %+v, %v", l, err)
	}
	until := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	if r, err := c.Revoke(ctx, "ann", until); err != nil || r.Closed != 1 || !r.Until.Equal(until) {
		t.Errorf("Revoke = %+v, %v", r, err)
	}
	if _, err := c.AddMember(ctx, "dm-x", "eve", ""); !errors.Is(err, publisher.ErrConflict) {
		t.Errorf("AddMember to a direct message: %v, want ErrConflict", err)
	}
	want := []call{
		{"PUT", "/@http/dev/channels/board", "", `{"members":[{"userId":"ann","userName":"Ann"},{"userId":"bob"}]}`},
		{"PUT", "/@http/dev/channels/board/members/bob@example.com", "", ""},
		{"DELETE", "/@http/dev/channels/board/members/bob", "", ""},
		{"GET", "/@http/dev/channels/board/members", "cursor=abc", ""},
		{"PUT", "/@http/dev/users/ann/revocation", "", `{"until":"2026-11-27T00:00:00Z"}`},
		{"PUT", "/@http/dev/channels/dm-x/members/eve", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
