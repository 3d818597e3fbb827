package eventbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
)

type fakeAPI struct {
	in  *eventbridge.PutEventsInput
	out *eventbridge.PutEventsOutput
	err error
}

func (f *fakeAPI) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.in = in
	return f.out, f.err
}

func TestPublish(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := []chat.BusEvent{{DetailType: "a.v1", Detail: []byte(`{"x":1}`), Time: at}, {DetailType: "b.v1", Detail: []byte(`{}`)}}
	api := &fakeAPI{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []types.PutEventsResultEntry{
		{EventId: aws.String("id-1")}, {ErrorCode: aws.String("InternalFailure")}}}}
	failed, err := New(api, "bus", "wschat").Publish(t.Context(), evs)
	if err != nil || len(failed) != 1 || failed[0] != 1 {
		t.Fatalf("failed %v, %v; want [1]", failed, err)
	}
	e := api.in.Entries[0]
	if *e.EventBusName != "bus" || *e.Source != "wschat" || *e.DetailType != "a.v1" || *e.Detail != `{"x":1}` || !e.Time.Equal(at) || api.in.Entries[1].Time != nil {
		t.Errorf("entries %+v", api.in.Entries)
	}
	api.out = &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []types.PutEventsResultEntry{{EventId: aws.String("x")}}}
	if failed, _ := New(api, "bus", "wschat").Publish(t.Context(), evs); len(failed) != 2 {
		t.Errorf("a short answer: failed %v, want every entry", failed)
	}
	api.err = &smithy.GenericAPIError{Code: "ThrottlingException", Fault: smithy.FaultClient}
	if _, err := New(api, "bus", "wschat").Publish(t.Context(), evs); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("throttle: %v, want chat.ErrUnavailable", err)
	}
	api.err = &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}
	if _, err := New(api, "bus", "wschat").Publish(t.Context(), evs); err == nil || errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("access denied: %v, want a plain error", err)
	}
	if failed, err := New(api, "bus", "wschat").Publish(t.Context(), nil); failed != nil || err != nil {
		t.Error("an empty publish called the API")
	}
}
