// Command orders is the shop's own function: POST /orders on the shop's
// API places an order, and the function announces it on the "orders" chat
// channel through wschat's publish API, which the stack allowed it to call
// (Chat.GrantPublish) and told it where to find (SHOP_PUBLISH_URL).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/wschat/wschat/publisher"
)

// Channel is where orders are announced.
const Channel = "orders"

// EnvPublishURL names the variable the stack sets to Chat.PublishURL().
const EnvPublishURL = "SHOP_PUBLISH_URL"

// order is the body of POST /orders.
type order struct {
	ID   string `json:"id"`
	Item string `json:"item"`
}

var orderID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// publish is what the handler needs of a publisher.Client.
type publish interface {
	Publish(ctx context.Context, channel, id, text string) (publisher.Published, error)
}

// handler places an order: it announces it once per order id (the publish
// API is idempotent per id, so a retried request stores nothing new).
func handler(p publish) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var o order
		if err := json.Unmarshal([]byte(req.Body), &o); err != nil || !orderID.MatchString(o.ID) || o.Item == "" || len(o.Item) > 200 {
			return reply(http.StatusBadRequest, map[string]string{"error": `want {"id": "<1-64 letters, digits or ->", "item": "<1-200 bytes>"}`}), nil
		}
		got, err := p.Publish(ctx, Channel, "order-"+o.ID, fmt.Sprintf("order %s placed: %s", o.ID, o.Item))
		if err != nil {
			slog.ErrorContext(ctx, "announce order", "orderId", o.ID, "err", err)
			if errors.Is(err, publisher.ErrInvalid) {
				return reply(http.StatusBadRequest, map[string]string{"error": err.Error()}), nil
			}
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return reply(http.StatusAccepted, map[string]any{"id": o.ID, "channel": got.Channel, "seq": got.Seq}), nil
	}
}

func reply(status int, body any) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(body)
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		slog.Error("load AWS config", "err", err)
		os.Exit(1)
	}
	client, err := publisher.New(publisher.Options{Endpoint: os.Getenv(EnvPublishURL), Region: cfg.Region, Credentials: cfg.Credentials})
	if err != nil {
		slog.Error("publisher", "err", err)
		os.Exit(1)
	}
	lambda.Start(handler(client))
}
