package main

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/publisher"
)

type fakePublisher struct {
	calls []string
	err   error
}

func (f *fakePublisher) Publish(_ context.Context, channel, id, text string) (publisher.Published, error) {
	f.calls = append(f.calls, channel+"|"+id+"|"+text)
	return publisher.Published{Channel: channel, ID: id, Seq: 7}, f.err
}

func TestHandler(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		err        error
		status     int
		calls      int
		wantErr    bool
	}{
		{"an order is announced", `{"id":"A-1","item":"tea"}`, nil, http.StatusAccepted, 1, false},
		{"not JSON", `{`, nil, http.StatusBadRequest, 0, false},
		{"bad id", `{"id":"a b","item":"tea"}`, nil, http.StatusBadRequest, 0, false},
		{"no item", `{"id":"A-1"}`, nil, http.StatusBadRequest, 0, false},
		{"refused by the publish API", `{"id":"A-1","item":"tea"}`, &publisher.Error{Status: 400}, http.StatusBadRequest, 1, false},
		{"publish API down", `{"id":"A-1","item":"tea"}`, errors.New("boom"), 0, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePublisher{err: tt.err}
			resp, err := handler(p)(context.Background(), events.APIGatewayV2HTTPRequest{Body: tt.body})
			if (err != nil) != tt.wantErr || resp.StatusCode != tt.status || len(p.calls) != tt.calls {
				t.Errorf("got %d %v, %d calls (%v); want %d, error %v, %d calls", resp.StatusCode, err, len(p.calls), p.calls, tt.status, tt.wantErr, tt.calls)
			}
			if tt.calls == 1 && p.calls[0] != "orders|order-A-1|order A-1 placed: tea" {
				t.Errorf("published %q", p.calls[0])
			}
		})
	}
}
