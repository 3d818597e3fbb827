// Package cost turns what a run of the stack measured (API Gateway
// messages, function invocations and durations, DynamoDB capacity units,
// SQS requests, log bytes) into the AWS bill per million messages sent and
// per million delivered, and prices the same workload at the list prices of
// managed real-time services. The prices live in one dated file,
// prices.json, with the source of every figure; make cost measures the
// counts (docs/cost.md).
package cost

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

//go:embed prices.json
var pricesJSON []byte

// Price is one list price: USD for Per units.
type Price struct {
	USD    float64 `json:"usd"`
	Per    float64 `json:"per"`
	Unit   string  `json:"unit"`
	Source string  `json:"source"`
	Seen   string  `json:"seen"`
	Note   string  `json:"note"`
	// Value is a quantity that is not a price (the log event overhead).
	Value float64 `json:"value,omitempty"`
}

// Of is the price of quantity units.
func (p Price) Of(quantity float64) float64 { return quantity / p.Per * p.USD }

// AWS are the AWS prices of the stack's parts.
type AWS struct {
	APIGatewayMessage          Price `json:"apiGatewayMessage"`
	APIGatewayConnectionMinute Price `json:"apiGatewayConnectionMinute"`
	HTTPAPIRequest             Price `json:"httpApiRequest"`
	LambdaRequest              Price `json:"lambdaRequest"`
	LambdaArmGBSecond          Price `json:"lambdaArmGBSecond"`
	DynamoWriteRequestUnit     Price `json:"dynamoWriteRequestUnit"`
	DynamoReadRequestUnit      Price `json:"dynamoReadRequestUnit"`
	SQSRequest                 Price `json:"sqsRequest"`
	EventBridgeEvent           Price `json:"eventBridgeEvent"`
	LogsIngestedGB             Price `json:"logsIngestedGB"`
	LogsEventOverheadBytes     Price `json:"logsEventOverheadBytes"`
}

// Plan is one rung of a plan ladder (Pusher).
type Plan struct {
	Name           string  `json:"name"`
	Monthly        float64 `json:"monthly"`
	MessagesPerDay float64 `json:"messagesPerDay"`
	Connections    int     `json:"connections"`
}

// Anchor is a managed real-time service to compare with.
type Anchor struct {
	Name string `json:"name"`
	// Kind is "per-unit" (Message, ConnectionMinute, ChannelMinute,
	// BaseMonthly), "plans" (Plans) or "notFound".
	Kind             string  `json:"kind"`
	Message          *Price  `json:"message,omitempty"`
	ConnectionMinute *Price  `json:"connectionMinute,omitempty"`
	ChannelMinute    *Price  `json:"channelMinute,omitempty"`
	BaseMonthly      float64 `json:"baseMonthly,omitempty"`
	Plans            []Plan  `json:"plans,omitempty"`
	// Counts says what the service counts as a message.
	Counts string `json:"counts"`
	Source string `json:"source"`
	Seen   string `json:"seen"`
	Note   string `json:"note"`
}

// Prices is prices.json.
type Prices struct {
	Compiled    string   `json:"compiled"`
	Region      string   `json:"region"`
	Currency    string   `json:"currency"`
	HowCompiled string   `json:"howCompiled"`
	AWS         AWS      `json:"aws"`
	Anchors     []Anchor `json:"anchors"`
}

// Load reads the embedded prices.json and checks every figure has a source
// and a date.
func Load() (*Prices, error) { return Parse(pricesJSON) }

// Parse reads a prices document and checks it.
func Parse(data []byte) (*Prices, error) {
	var p Prices
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	return &p, p.check()
}

func (p *Prices) check() error {
	var errs []error
	if p.Compiled == "" {
		errs = append(errs, errors.New("prices: no compiled date"))
	}
	for name, pr := range p.AWS.named() {
		errs = append(errs, checkPrice("aws."+name, pr)...)
	}
	for _, a := range p.Anchors {
		if a.Source == "" || a.Seen == "" || a.Counts == "" {
			errs = append(errs, fmt.Errorf("prices: anchor %s needs source, seen and counts", a.Name))
		}
		switch a.Kind {
		case "per-unit":
			if a.Message == nil {
				errs = append(errs, fmt.Errorf("prices: anchor %s: per-unit without a message price", a.Name))
			}
		case "plans":
			if len(a.Plans) == 0 {
				errs = append(errs, fmt.Errorf("prices: anchor %s: no plans", a.Name))
			}
		case "notFound":
		default:
			errs = append(errs, fmt.Errorf("prices: anchor %s: kind %q", a.Name, a.Kind))
		}
	}
	return errors.Join(errs...)
}

func checkPrice(name string, pr Price) []error {
	var errs []error
	if pr.Per <= 0 || pr.USD < 0 {
		errs = append(errs, fmt.Errorf("prices: %s: want usd >= 0 per a positive quantity", name))
	}
	if !strings.HasPrefix(pr.Source, "https://") || pr.Seen == "" {
		errs = append(errs, fmt.Errorf("prices: %s: want an https source and the date it was seen", name))
	}
	return errs
}

// named lists the AWS prices by their JSON names, for checks and tables.
func (a AWS) named() map[string]Price {
	return map[string]Price{
		"apiGatewayMessage": a.APIGatewayMessage, "apiGatewayConnectionMinute": a.APIGatewayConnectionMinute,
		"httpApiRequest": a.HTTPAPIRequest, "lambdaRequest": a.LambdaRequest, "lambdaArmGBSecond": a.LambdaArmGBSecond,
		"dynamoWriteRequestUnit": a.DynamoWriteRequestUnit, "dynamoReadRequestUnit": a.DynamoReadRequestUnit,
		"sqsRequest": a.SQSRequest, "eventBridgeEvent": a.EventBridgeEvent, "logsIngestedGB": a.LogsIngestedGB, "logsEventOverheadBytes": a.LogsEventOverheadBytes,
	}
}
