package cost

import (
	"fmt"
	"sort"
)

// Connections is a workload's connection model: Groups channels side by
// side, each with Members connections online HoursPerDay hours a day, in
// which the channel carries SendsPerHour messages sent.
type Connections struct {
	Groups       int     `json:"groups"`
	Members      int     `json:"members"`
	HoursPerDay  float64 `json:"hoursPerDay"`
	SendsPerHour float64 `json:"sendsPerHour"`
}

// ConnectionMinutesPerSend is the connection time every message sent
// carries: the channel's connections for the hour over its sends in that
// hour.
func (c Connections) ConnectionMinutesPerSend() float64 {
	return float64(c.Members) * 60 / c.SendsPerHour
}

// ChannelMinutesPerSend is the time a channel is open per message sent.
func (c Connections) ChannelMinutesPerSend() float64 { return 60 / c.SendsPerHour }

// SendsPerMonth is the workload's messages sent in a 30-day month.
func (c Connections) SendsPerMonth() float64 {
	return float64(c.Groups) * c.SendsPerHour * c.HoursPerDay * 30
}

// PeakConnections is every connection of every group online at once.
func (c Connections) PeakConnections() int { return c.Groups * c.Members }

// FunctionUsage is one function's share of a run.
type FunctionUsage struct {
	Invocations int64 `json:"invocations"`
	BilledMs    int64 `json:"billedMs"`
	MemoryMB    int   `json:"memoryMb"`
	LogEvents   int64 `json:"logEvents"`
	LogBytes    int64 `json:"logBytes"`
}

// Measured is what a run of a workload counted, totals over Sends messages.
type Measured struct {
	Sends int `json:"sends"`
	// Deliveries are the message frames posted to member connections, the
	// sender's own copy included (acks are not deliveries).
	Deliveries int64 `json:"deliveries"`
	// SenderFrames are the frames the sending connection received.
	SenderFrames       int64                    `json:"senderFrames"`
	GatewayMessagesIn  int64                    `json:"gatewayMessagesIn"`
	GatewayMessagesOut int64                    `json:"gatewayMessagesOut"`
	GatewayUnitsIn     int64                    `json:"gatewayUnitsIn"`
	GatewayUnitsOut    int64                    `json:"gatewayUnitsOut"`
	HTTPRequests       int64                    `json:"httpRequests"` // publish API calls
	Functions          map[string]FunctionUsage `json:"functions"`
	ReadUnits          float64                  `json:"readUnits"`
	WriteUnits         float64                  `json:"writeUnits"`
	DynamoCalls        map[string]int           `json:"dynamoCalls"`
	SQSUnits           int64                    `json:"sqsUnits"`
	SQSMappingBatches  int64                    `json:"sqsMappingBatches"`
	// BusEvents are the events the integrations (#22) put on an EventBridge
	// bus, in EventBridge's billing units (each 64 KB of an entry is one);
	// 0 with events off. The events function's invocations are in
	// Functions; its DynamoDB Streams reads are free (a Lambda trigger's).
	BusEvents int64 `json:"busEvents"`
}

// LogShape is what the model adds to the functions' own output: the lines
// Lambda writes per invocation (START and REPORT, or their JSON forms) and
// API Gateway's access log line per request, as their sizes.
type LogShape struct {
	PlatformEventsPerInvocation int     `json:"platformEventsPerInvocation"`
	PlatformBytesPerInvocation  float64 `json:"platformBytesPerInvocation"`
	AccessLogBytesPerRequest    float64 `json:"accessLogBytesPerRequest"` // WebSocket stage; 0: no access log
	// HTTPAccessLogBytesPerRequest is the publish API stage's line.
	HTTPAccessLogBytesPerRequest float64 `json:"httpAccessLogBytesPerRequest"`
}

// Part names, in the order bills list them.
const (
	PartMessages    = "API Gateway messages"
	PartHTTP        = "HTTP API requests"
	PartConnections = "API Gateway connection minutes"
	PartLambdaReq   = "Lambda requests"
	PartLambdaTime  = "Lambda duration (arm64)"
	PartDynamoWrite = "DynamoDB writes"
	PartDynamoRead  = "DynamoDB reads"
	PartSQS         = "SQS requests"
	PartEvents      = "EventBridge events"
	PartLogs        = "CloudWatch Logs"
)

// Parts lists every part in bill order.
var Parts = []string{PartMessages, PartHTTP, PartConnections, PartLambdaReq, PartLambdaTime, PartDynamoWrite, PartDynamoRead, PartSQS, PartEvents, PartLogs}

// overheadParts are the parts the goals measure against API Gateway's
// message charge: everything that is not API Gateway.
var overheadParts = map[string]bool{PartLambdaReq: true, PartLambdaTime: true, PartDynamoWrite: true, PartDynamoRead: true, PartSQS: true,
	PartEvents: true, PartLogs: true}

// IsOverhead reports whether part is above the floor (not API Gateway).
func IsOverhead(part string) bool { return overheadParts[part] }

// Line is one part of a bill.
type Line struct {
	Part string `json:"part"`
	// Quantity is the billed quantity per message sent, in Unit.
	Quantity float64 `json:"quantityPerSend"`
	Unit     string  `json:"unit"`
	// PerMillionSent and PerMillionDelivered are USD.
	PerMillionSent      float64 `json:"perMillionSent"`
	PerMillionDelivered float64 `json:"perMillionDelivered"`
}

// Bill is a workload's AWS bill per million messages.
type Bill struct {
	Lines               []Line  `json:"lines"`
	PerMillionSent      float64 `json:"perMillionSent"`
	PerMillionDelivered float64 `json:"perMillionDelivered"`
	// Floor is API Gateway's message charge (WebSocket messages and HTTP
	// API requests) per million sent; Overhead everything not API Gateway.
	Floor    float64 `json:"floorPerMillionSent"`
	Overhead float64 `json:"overheadPerMillionSent"`
	// OverheadShare is Overhead / Floor.
	OverheadShare      float64 `json:"overheadShare"`
	DeliveriesPerSend  float64 `json:"deliveriesPerSend"`
	LogBytesPerSend    float64 `json:"logBytesPerSend"`
	AppLogBytesPerSend float64 `json:"appLogBytesPerSend"` // the functions' own output, overhead bytes included
	// PlatformLogBytesPerSend are Lambda's own lines, AccessLogBytesPerSend
	// API Gateway's access log lines (overhead bytes included).
	PlatformLogBytesPerSend float64 `json:"platformLogBytesPerSend"`
	AccessLogBytesPerSend   float64 `json:"accessLogBytesPerSend"`
}

// Compute prices m, a run of a workload with connection model c.
func Compute(p *Prices, c Connections, m Measured, shape LogShape) (Bill, error) {
	if m.Sends <= 0 || m.Deliveries <= 0 || c.SendsPerHour <= 0 {
		return Bill{}, fmt.Errorf("cost: want sends, deliveries and a send rate (got %d, %d, %g)", m.Sends, m.Deliveries, c.SendsPerHour)
	}
	a := p.AWS
	n := float64(m.Sends)
	var inv, gbs, appEvents, appBytes float64
	for _, f := range m.Functions {
		inv += float64(f.Invocations)
		gbs += float64(f.BilledMs) / 1000 * float64(f.MemoryMB) / 1024
		appEvents += float64(f.LogEvents)
		appBytes += float64(f.LogBytes)
	}
	overhead := a.LogsEventOverheadBytes.Value
	appLog := appBytes + appEvents*overhead
	platformLog := inv * (shape.PlatformBytesPerInvocation + float64(shape.PlatformEventsPerInvocation)*overhead)
	accessLog := 0.0
	if shape.AccessLogBytesPerRequest > 0 {
		accessLog += float64(m.GatewayMessagesIn) * (shape.AccessLogBytesPerRequest + overhead)
	}
	if shape.HTTPAccessLogBytesPerRequest > 0 {
		accessLog += float64(m.HTTPRequests) * (shape.HTTPAccessLogBytesPerRequest + overhead)
	}
	logBytes := (appLog + platformLog + accessLog) / n
	quantities := []struct {
		part  string
		q     float64
		unit  string
		price Price
	}{
		{PartMessages, float64(m.GatewayUnitsIn+m.GatewayUnitsOut) / n, "32 KB messages", a.APIGatewayMessage},
		{PartHTTP, float64(m.HTTPRequests) / n, "requests", a.HTTPAPIRequest},
		{PartConnections, c.ConnectionMinutesPerSend(), "connection minutes", a.APIGatewayConnectionMinute},
		{PartLambdaReq, inv / n, "requests", a.LambdaRequest},
		{PartLambdaTime, gbs / n, "GB-seconds", a.LambdaArmGBSecond},
		{PartDynamoWrite, m.WriteUnits / n, "write units", a.DynamoWriteRequestUnit},
		{PartDynamoRead, m.ReadUnits / n, "read units", a.DynamoReadRequestUnit},
		{PartSQS, float64(m.SQSUnits+2*m.SQSMappingBatches) / n, "requests", a.SQSRequest},
		{PartEvents, float64(m.BusEvents) / n, "64 KB events", a.EventBridgeEvent},
		{PartLogs, logBytes / (1 << 30), "GB", a.LogsIngestedGB},
	}
	dps := float64(m.Deliveries) / n
	b := Bill{DeliveriesPerSend: dps, LogBytesPerSend: logBytes, AppLogBytesPerSend: appLog / n,
		PlatformLogBytesPerSend: platformLog / n, AccessLogBytesPerSend: accessLog / n}
	for _, q := range quantities {
		sent := q.price.Of(q.q) * 1e6
		b.Lines = append(b.Lines, Line{Part: q.part, Quantity: q.q, Unit: q.unit, PerMillionSent: sent, PerMillionDelivered: sent / dps})
		b.PerMillionSent += sent
		switch {
		case q.part == PartMessages || q.part == PartHTTP:
			b.Floor += sent
		case overheadParts[q.part]:
			b.Overhead += sent
		}
	}
	b.PerMillionDelivered = b.PerMillionSent / dps
	if b.Floor > 0 {
		b.OverheadShare = b.Overhead / b.Floor
	}
	return b, nil
}

// Line returns the bill's line for part (zero if absent).
func (b Bill) Line(part string) Line {
	for _, l := range b.Lines {
		if l.Part == part {
			return l
		}
	}
	return Line{Part: part}
}

// AnchorCost is one managed service's list price for the same workload.
type AnchorCost struct {
	Name                string  `json:"name"`
	PerMillionSent      float64 `json:"perMillionSent"`
	PerMillionDelivered float64 `json:"perMillionDelivered"`
	// Plan is the plan that fits (plan ladders).
	Plan string `json:"plan,omitempty"`
	// Unpriced: the workload needs more than any listed plan; PerMillion*
	// are then 0 and mean nothing.
	Unpriced bool `json:"unpriced,omitempty"`
	// LowerBound: only part of the price is known (Hotsock: the API
	// Gateway floor it runs on).
	LowerBound bool   `json:"lowerBound,omitempty"`
	Why        string `json:"why"`
}

// Anchors prices the workload (c, and deliveries per send from the run)
// at every anchor's list price; floor is wschat's API Gateway floor per
// million sent (messages and connection minutes), the lower bound of the
// services that run on it.
func Anchors(p *Prices, c Connections, deliveriesPerSend, floor float64) []AnchorCost {
	var out []AnchorCost
	for _, a := range p.Anchors {
		var ac AnchorCost
		switch a.Kind {
		case "per-unit":
			ac = perUnit(a, c, deliveriesPerSend)
		case "plans":
			ac = planned(a, c, deliveriesPerSend)
		default:
			ac = AnchorCost{Name: a.Name, PerMillionSent: floor, LowerBound: true,
				Why: "price not found; at least API Gateway's floor, which it runs on"}
		}
		if !ac.Unpriced {
			ac.PerMillionDelivered = ac.PerMillionSent / deliveriesPerSend
		}
		out = append(out, ac)
	}
	return out
}

// perUnit: (1 publish + deliveries) messages, connection and channel
// minutes, and the base fee spread over the month's sends.
func perUnit(a Anchor, c Connections, dps float64) AnchorCost {
	msgs := 1 + dps
	usd := a.Message.Of(msgs)
	why := fmt.Sprintf("%.4g messages", msgs)
	if a.ConnectionMinute != nil {
		usd += a.ConnectionMinute.Of(c.ConnectionMinutesPerSend())
		why += fmt.Sprintf(" + %.4g connection minutes", c.ConnectionMinutesPerSend())
	}
	if a.ChannelMinute != nil {
		usd += a.ChannelMinute.Of(c.ChannelMinutesPerSend())
		why += fmt.Sprintf(" + %.4g channel minutes", c.ChannelMinutesPerSend())
	}
	if a.BaseMonthly > 0 {
		usd += a.BaseMonthly / c.SendsPerMonth()
		why += fmt.Sprintf(" + $%g/month over %s sends", a.BaseMonthly, compact(c.SendsPerMonth()))
	}
	return AnchorCost{Name: a.Name, PerMillionSent: usd * 1e6, Why: why + " per send"}
}

// planned picks the cheapest plan that holds the workload's daily messages
// (1 publish + deliveries per send) and peak connections.
func planned(a Anchor, c Connections, dps float64) AnchorCost {
	perDay := (1 + dps) * c.SendsPerMonth() / 30
	plans := append([]Plan(nil), a.Plans...)
	sort.Slice(plans, func(i, j int) bool { return plans[i].Monthly < plans[j].Monthly })
	for _, pl := range plans {
		if pl.MessagesPerDay >= perDay && pl.Connections >= c.PeakConnections() {
			return AnchorCost{Name: a.Name, Plan: pl.Name, PerMillionSent: pl.Monthly / c.SendsPerMonth() * 1e6,
				Why: fmt.Sprintf("%s plan ($%g/month: %s messages/day, %s connections) for %s messages/day and %s connections",
					pl.Name, pl.Monthly, compact(pl.MessagesPerDay), compact(float64(pl.Connections)), compact(perDay), compact(float64(c.PeakConnections())))}
		}
	}
	return AnchorCost{Name: a.Name, Plan: "Enterprise", Unpriced: true,
		Why: fmt.Sprintf("%s messages/day and %s connections exceed every listed plan: Enterprise, price not listed", compact(perDay), compact(float64(c.PeakConnections())))}
}

// compact writes 1234567 as 1.23M.
func compact(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
