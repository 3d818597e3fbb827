package dynalite_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/dynalite"
)

// TestWebPagesCannotReachDynalite replays what a page the developer visits
// could send (issue #25, finding 1): dynalite itself answers a preflight
// with Access-Control-Allow-Origin: * and a ListTables with signature 00
// with 200; through the guard every such request is refused, and the
// SDK's signed calls still work.
func TestWebPagesCannotReachDynalite(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host := strings.TrimPrefix(s.Endpoint(), "http://")
	_, port, _ := net.SplitHostPort(host)
	fake := "AWS4-HMAC-SHA256 Credential=local/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	cases := []struct {
		name, method string
		header       map[string]string
		want         int
	}{
		{"CORS preflight", http.MethodOptions, map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 403},
		{"cross-origin fetch with a fake signature", http.MethodPost, map[string]string{"Origin": "http://evil.example", "Authorization": fake}, 403},
		{"health probe from a page", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"rebound Host", http.MethodPost, map[string]string{"Host": "evil.example:" + port, "Authorization": fake}, 403},
		{"tool with a fake signature", http.MethodPost, map[string]string{"Authorization": fake}, 400},
		{"tool without a signature", http.MethodPost, nil, 400},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(ctx, tc.method, s.Endpoint(), strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		for k, v := range tc.header {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Access-Control-Allow-Origin") != "" || strings.Contains(string(body), "TableNames") {
			t.Errorf("%s: %d %q (ACAO %q), want %d and no data", tc.name, resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"), tc.want)
		}
	}
	// What the guard stands in front of: dynalite itself takes the fake
	// signature (the finding), on a socket no page can reach.
	raw := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.Socket())
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://dynalite/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", fake)
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := raw.Do(req); err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("dynalite's own socket with a fake signature: %v %v; want 200 with ACAO * (the behaviour the guard hides)", resp, err)
	} else {
		resp.Body.Close()
	}
	// Positive control: a signed client, and one signed with other keys.
	if _, err := client(s.Endpoint()).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("signed ListTables: %v", err)
	}
	other := dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "wrong", ""), RetryMaxAttempts: 1})
	if _, err := other.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil || !strings.Contains(err.Error(), "InvalidSignature") {
		t.Errorf("ListTables signed with another secret: %v, want InvalidSignatureException", err)
	}
	// Any region verifies: the emulator's functions sign for --region.
	eu := dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if _, err := eu.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("signed ListTables in eu-west-1: %v", err)
	}
}
