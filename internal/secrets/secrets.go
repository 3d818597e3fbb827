// Package secrets is the Secrets Manager adapter: it reads a secret's
// current value and keeps it for a while, so a function reads each secret
// about once per instance and still picks up a rotation within minutes.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
)

// API is the subset of the Secrets Manager client the cache calls.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// DefaultTTL is how long a value is used before it is read again.
const DefaultTTL = 5 * time.Minute

// Cache reads secrets by ARN (or name) and keeps each for its TTL.
type Cache struct {
	api API
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	vals map[string]cached
}

type cached struct {
	value string
	at    time.Time
}

// New returns a cache over api; ttl 0 means DefaultTTL.
func New(api API, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Cache{api: api, ttl: ttl, now: time.Now, vals: map[string]cached{}}
}

// NewClient builds the Secrets Manager client from cfg; endpoint, when set
// (AWS_ENDPOINT_URL_SECRETS_MANAGER, which the local emulator sets),
// overrides AWS's.
func NewClient(cfg aws.Config, endpoint string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// Secret returns the secret's current string value.
func (c *Cache) Secret(ctx context.Context, id string) (string, error) {
	c.mu.Lock()
	v, ok := c.vals[id]
	c.mu.Unlock()
	if ok && c.now().Sub(v.at) < c.ttl {
		return v.value, nil
	}
	out, err := c.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", translate(id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s: no string value (a binary secret?)", id)
	}
	c.mu.Lock()
	c.vals[id] = cached{value: *out.SecretString, at: c.now()}
	c.mu.Unlock()
	return *out.SecretString, nil
}

func translate(id string, err error) error {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("secret %s: %w", id, chat.ErrNotFound)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorFault() == smithy.FaultServer || api.ErrorCode() == "ThrottlingException") {
		return fmt.Errorf("secret %s: %w: %w", id, chat.ErrUnavailable, err)
	}
	return fmt.Errorf("secret %s: %w", id, err)
}
