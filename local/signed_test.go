package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedPost POSTs body to url signed with the emulator's local credentials
// by the SDK's signer, as apigatewaymanagementapi signs @connections calls.
func signedPost(client *http.Client, url string, body []byte) (*http.Response, error) {
	return signedDo(client, http.MethodPost, url, body)
}

// signedDo sends method to url, signed as signedPost signs.
func signedDo(client *http.Client, method, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: localCredentials.AccessKeyID, SecretAccessKey: localCredentials.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	return client.Do(req)
}
