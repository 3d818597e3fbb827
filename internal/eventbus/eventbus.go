// Package eventbus is the EventBridge adapter: it puts the integration
// events on a bus with PutEvents and translates the SDK's errors into the
// domain's.
package eventbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
)

// API is the subset of the EventBridge client the bus calls.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Bus puts events on one event bus under one source.
type Bus struct {
	api    API
	bus    string
	source string
}

// New returns a Bus for the bus name or ARN; source is every event's source.
func New(api API, bus, source string) *Bus {
	return &Bus{api: api, bus: bus, source: source}
}

// NewClient builds the EventBridge client from cfg; endpoint, when set
// (AWS_ENDPOINT_URL_EVENTS, which the local emulator sets), overrides AWS's.
func NewClient(cfg aws.Config, endpoint string) *eventbridge.Client {
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// Publish puts evs in one PutEvents call (at most 10 entries, 256 KB: the
// caller chunks). It returns the indexes of the entries EventBridge
// refused; an error means the call failed as a whole (chat.ErrUnavailable
// for a throttle or a server fault).
func (b *Bus) Publish(ctx context.Context, evs []chat.BusEvent) ([]int, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	entries := make([]types.PutEventsRequestEntry, len(evs))
	for i, ev := range evs {
		entries[i] = types.PutEventsRequestEntry{
			EventBusName: aws.String(b.bus),
			Source:       aws.String(b.source),
			DetailType:   aws.String(ev.DetailType),
			Detail:       aws.String(string(ev.Detail)),
		}
		if !ev.Time.IsZero() {
			entries[i].Time = aws.Time(ev.Time)
		}
	}
	out, err := b.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		return nil, translate(err)
	}
	if out.FailedEntryCount == 0 {
		return nil, nil
	}
	var failed []int
	for i, e := range out.Entries {
		if e.ErrorCode != nil || e.EventId == nil {
			failed = append(failed, i)
		}
	}
	if len(out.Entries) != len(evs) {
		// A malformed answer: treat every entry as refused, so none is lost.
		failed = failed[:0]
		for i := range evs {
			failed = append(failed, i)
		}
	}
	return failed, nil
}

func translate(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorFault() == smithy.FaultServer || api.ErrorCode() == "ThrottlingException") {
		return fmt.Errorf("put events: %w: %w", chat.ErrUnavailable, err)
	}
	return fmt.Errorf("put events: %w", err)
}
