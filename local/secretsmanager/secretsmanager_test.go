package secretsmanager

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestGenerate(t *testing.T) {
	v, err := Generate{ExcludePunctuation: true}.Value()
	if err != nil || len(v) != 32 || strings.ContainsAny(v, punctuation) {
		t.Errorf("default: %q, %v", v, err)
	}
	// 32 letters and digits are base64: the webhook secrets' form.
	if key, err := base64.StdEncoding.DecodeString(v); err != nil || len(key) != 24 {
		t.Errorf("%q is not 24 bytes of base64: %v", v, err)
	}
	v, _ = Generate{PasswordLength: 12, ExcludeCharacters: "abc", RequireEachIncludedType: true}.Value()
	if len(v) != 12 || strings.ContainsAny(v, "abc") || !hasEach(v, []string{lower[3:], upper, digits}) {
		t.Errorf("with rules: %q", v)
	}
	v, _ = Generate{SecretStringTemplate: `{"user":"u"}`, GenerateStringKey: "password", ExcludePunctuation: true}.Value()
	var obj map[string]string
	if json.Unmarshal([]byte(v), &obj) != nil || obj["user"] != "u" || len(obj["password"]) != 32 {
		t.Errorf("template: %s", v)
	}
	for _, g := range []Generate{{ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true}, {PasswordLength: 5000}, {SecretStringTemplate: "x", GenerateStringKey: "k"}} {
		if _, err := g.Value(); err == nil {
			t.Errorf("%+v generated", g)
		}
	}
}

func TestGetSecretValueWithTheSDK(t *testing.T) {
	s := NewStore()
	s.Put(Secret{Name: "hooks", ARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:hooks-abcdef", Value: "v1"})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := sm.New(sm.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	for _, id := range []string{"hooks", "arn:aws:secretsmanager:us-east-1:000000000000:secret:hooks-abcdef"} {
		out, err := c.GetSecretValue(t.Context(), &sm.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil || *out.SecretString != "v1" || *out.Name != "hooks" || out.CreatedDate == nil {
			t.Errorf("GetSecretValue(%s) = %+v, %v", id, out, err)
		}
	}
	_, err := c.GetSecretValue(t.Context(), &sm.GetSecretValueInput{SecretId: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown secret: %v", err)
	}
}
