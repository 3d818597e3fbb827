package publish_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/publisher"
)

// TestPublisherSignaturesVerify: what the publisher module signs, the
// emulator's SigV4 verifier accepts — for every route the client calls. (The
// publisher's own tests cannot import the verifier: it lives in this module.)
func TestPublisherSignaturesVerify(t *testing.T) {
	v := &sigv4.Verifier{Creds: sigv4.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}, Region: "us-east-1", Service: "execute-api"}
	verified := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r, body); err != nil {
			t.Errorf("%s %s: signature refused: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		verified++
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := publisher.New(publisher.Options{Endpoint: srv.URL + "/@http/dev", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Publish(ctx, "general", "o1", "shipped ✓"); err != nil {
		t.Errorf("Publish: %v", err)
	}
	if _, err := c.Notify(ctx, "ann", "", "hello"); err != nil {
		t.Errorf("Notify: %v", err)
	}
	if _, err := c.Disconnect(ctx, "ann"); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if _, err := c.CreatePrivate(ctx, "board", publisher.ListedMember{UserID: "ann", UserName: "Ann"}); err != nil {
		t.Errorf("CreatePrivate: %v", err)
	}
	if _, err := c.AddMember(ctx, "board", "bob@example.com", "Bob"); err != nil {
		t.Errorf("AddMember: %v", err)
	}
	if _, err := c.RemoveMember(ctx, "board", "bob@example.com"); err != nil {
		t.Errorf("RemoveMember: %v", err)
	}
	if _, err := c.Members(ctx, "board", "YW5u"); err != nil { // a query string is signed too
		t.Errorf("Members: %v", err)
	}
	if _, err := c.Revoke(ctx, "ann", time.Now().Add(time.Hour)); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	if _, err := c.Mute(ctx, "board", "bob@example.com", time.Minute, "cool off", "m1"); err != nil {
		t.Errorf("Mute: %v", err)
	}
	if verified != 9 {
		t.Errorf("%d requests verified, want 9", verified)
	}
}
