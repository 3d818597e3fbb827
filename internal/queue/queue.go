// Package queue is the adapter for the fan-out task queue (Amazon SQS): it
// sends the tasks a spread broadcast hands on, in batches, and retries what
// SQS did not take, so a broadcast is acknowledged only when every task is
// in the queue.
package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS limits of one SendMessageBatch call.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 * 1024
)

// entryAttempts bounds how often one entry that SQS reported failed (not a
// sender fault) is sent again, on top of the SDK's retries of whole calls.
const entryAttempts = 4

// Client sends message bodies to one queue.
type Client struct {
	api   *sqs.Client
	url   string
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client for queueURL. endpoint, when set, overrides the SQS
// endpoint (AWS_ENDPOINT_URL_SQS, which the local emulator sets). Whole
// calls are retried as cfg.Retryer says: the functions get one without the
// SDK's client-side retry quota from internal/compose, so a burst of sends
// from one invocation does not fail for want of retry tokens.
func New(cfg aws.Config, queueURL, endpoint string) *Client {
	api := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &Client{api: api, url: queueURL, sleep: sleepCtx}
}

// Enqueue sends every body, in batches of at most MaxBatchEntries entries
// and MaxBatchBytes bytes. It returns nil only when SQS accepted them all;
// a body larger than one message may be is an error before anything is
// sent.
func (c *Client) Enqueue(ctx context.Context, bodies [][]byte) error {
	for i, b := range bodies {
		if len(b) > MaxBatchBytes {
			return fmt.Errorf("enqueue: message %d is %d bytes, above SQS's %d", i, len(b), MaxBatchBytes)
		}
	}
	for start := 0; start < len(bodies); {
		end, size := start, 0
		for end < len(bodies) && end-start < MaxBatchEntries && size+len(bodies[end]) <= MaxBatchBytes {
			size += len(bodies[end])
			end++
		}
		if err := c.sendBatch(ctx, bodies[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// sendBatch sends one batch, then again the entries SQS failed, until all
// are in or an entry fails for good.
func (c *Client) sendBatch(ctx context.Context, bodies [][]byte) error {
	pending := make(map[string][]byte, len(bodies))
	for i, b := range bodies {
		pending[strconv.Itoa(i)] = b
	}
	for attempt := 1; ; attempt++ {
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for id, b := range pending {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(b))})
		}
		out, err := c.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(c.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("enqueue %d tasks: %w", len(entries), err)
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		if len(pending) == 0 {
			return nil
		}
		var failed []error
		for _, f := range out.Failed {
			failed = append(failed, fmt.Errorf("entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
			if f.SenderFault {
				return fmt.Errorf("enqueue: SQS refused a task: %w", errors.Join(failed...))
			}
		}
		if attempt == entryAttempts {
			return fmt.Errorf("enqueue: %d of %d tasks still failed after %d attempts: %w", len(pending), len(bodies), attempt, errors.Join(failed...))
		}
		if err := c.sleep(ctx, rand.N(50*time.Millisecond<<attempt)+1); err != nil {
			return fmt.Errorf("enqueue: %d tasks not sent: %w", len(pending), err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
