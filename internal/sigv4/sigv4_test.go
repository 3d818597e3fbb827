package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var local = Credentials{AccessKeyID: "local", SecretAccessKey: "local"}

// signed builds a request as a client would and signs it with the SDK's
// signer, then lets change tamper with it.
func signed(t *testing.T, creds Credentials, at time.Time, region string, change func(*http.Request)) (*http.Request, []byte) {
	t.Helper()
	body := []byte(`{"text":"hi","id":"x"}`)
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3001/@http/dev/channels/general/messages", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		r, hex.EncodeToString(sum[:]), "execute-api", region, at)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(r)
	}
	return r, body
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	v := &Verifier{Creds: local, Region: "us-east-1", Service: "execute-api", Now: func() time.Time { return now }}
	tests := []struct {
		name     string
		creds    Credentials
		at       time.Time
		region   string
		change   func(*http.Request)
		tamper   func([]byte) []byte
		wantType string // "" = accepted
	}{
		{name: "signed by the SDK", creds: local, at: now},
		{name: "4 minutes old", creds: local, at: now.Add(-4 * time.Minute)},
		{name: "unsigned", creds: local, at: now, change: func(r *http.Request) { r.Header.Del("Authorization") }, wantType: "MissingAuthenticationTokenException"},
		{name: "expired (6 minutes old)", creds: local, at: now.Add(-6 * time.Minute), wantType: "InvalidSignatureException"},
		{name: "from the future", creds: local, at: now.Add(6 * time.Minute), wantType: "InvalidSignatureException"},
		{name: "wrong secret", creds: Credentials{"local", "nope"}, at: now, wantType: "InvalidSignatureException"},
		{name: "unknown access key", creds: Credentials{"AKIDOTHER", "local"}, at: now, wantType: "UnrecognizedClientException"},
		{name: "other region", creds: local, at: now, region: "eu-west-1", wantType: "InvalidSignatureException"},
		{name: "body changed", creds: local, at: now, tamper: func(b []byte) []byte { return []byte(`{"text":"HI","id":"x"}`) }, wantType: "InvalidSignatureException"},
		{name: "path changed", creds: local, at: now, change: func(r *http.Request) { r.URL.Path = "/@http/dev/channels/random/messages" }, wantType: "InvalidSignatureException"},
		{name: "method changed", creds: local, at: now, change: func(r *http.Request) { r.Method = http.MethodDelete }, wantType: "InvalidSignatureException"},
		{name: "signed header changed", creds: local, at: now, change: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, wantType: "InvalidSignatureException"},
		{name: "date changed", creds: local, at: now, change: func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Add(time.Second).Format(amzDate)) }, wantType: "InvalidSignatureException"},
		{name: "signature flipped", creds: local, at: now, change: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[a[len(a)-1] == '0'])
		}, wantType: "InvalidSignatureException"},
		{name: "not SigV4", creds: local, at: now, change: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, wantType: "IncompleteSignatureException"},
		{name: "session token", creds: local, at: now, change: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "t") }, wantType: "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			region := tt.region
			if region == "" {
				region = "us-east-1"
			}
			r, body := signed(t, tt.creds, tt.at, region, tt.change)
			if tt.tamper != nil {
				body = tt.tamper(body)
			}
			err := v.Verify(r, body)
			var ae *AuthError
			switch {
			case tt.wantType == "" && err != nil:
				t.Errorf("Verify = %v, want accepted", err)
			case tt.wantType != "" && (!errors.As(err, &ae) || ae.Type != tt.wantType):
				t.Errorf("Verify = %v, want %s", err, tt.wantType)
			}
		})
	}
}
