package publish_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

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
	if verified != 3 {
		t.Errorf("%d requests verified, want 3", verified)
	}
}
