package cost

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

func load(t *testing.T) *Prices {
	t.Helper()
	p, err := Load()
	if err != nil {
		t.Fatalf("prices.json: %v", err)
	}
	return p
}

func TestPricesFileSaysWhereEveryFigureComesFrom(t *testing.T) {
	p := load(t)
	if p.Compiled == "" || p.Region != "us-east-1" || p.HowCompiled == "" {
		t.Errorf("header = %q %q, want a compile date, the region and how it was compiled", p.Compiled, p.Region)
	}
	for name, pr := range p.AWS.named() {
		if pr.Unit == "" || pr.Note == "" {
			t.Errorf("aws.%s: want a unit and a note on the source", name)
		}
	}
	names := map[string]Anchor{}
	for _, a := range p.Anchors {
		names[a.Name] = a
	}
	for _, want := range []string{"Ably", "Pusher Channels", "AppSync Events", "Hotsock"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no anchor %s", want)
		}
	}
	if names["Hotsock"].Kind != "notFound" {
		t.Errorf("Hotsock kind %q: its price was not found, and the file must say so rather than invent one", names["Hotsock"].Kind)
	}
	// A price without a source is refused.
	bad := strings.Replace(string(pricesJSON), `"source": "https://aws.amazon.com/sqs/pricing/"`, `"source": ""`, 1)
	if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "sqsRequest") {
		t.Errorf("a price without its source parsed: %v", err)
	}
}

// handCase is a DM-like run: 10 sends to a 2-member channel.
func handCase() (Connections, Measured, LogShape) {
	c := Connections{Groups: 1000, Members: 2, HoursPerDay: 8, SendsPerHour: 40}
	m := Measured{
		Sends: 10, Deliveries: 20,
		GatewayMessagesIn: 10, GatewayUnitsIn: 10, GatewayUnitsOut: 30,
		Functions: map[string]FunctionUsage{
			"chat": {Invocations: 10, BilledMs: 200, MemoryMB: 256, LogEvents: 30, LogBytes: 9000},
		},
		WriteUnits: 70, ReadUnits: 40,
	}
	shape := LogShape{PlatformEventsPerInvocation: 2, PlatformBytesPerInvocation: 400, AccessLogBytesPerRequest: 450}
	return c, m, shape
}

// TestComputeHandCase checks the arithmetic against a bill worked out by
// hand, with the prices of prices.json:
//
//	API Gateway messages: (10 + 30) units / 10 sends = 4 per send × $1.00/M = $4.00
//	connection minutes:    2 members × 60 / 40 sends an hour = 3 per send × $0.25/M = $0.75
//	Lambda requests:       1 per send × $0.20/M = $0.20
//	Lambda duration:       20 ms × 256/1024 GB = 0.005 GB-s per send × $0.0000133334 = $0.066667
//	DynamoDB writes:       7 WCU per send × $0.625/M = $4.375
//	DynamoDB reads:        4 RCU per send × $0.125/M = $0.50
//	CloudWatch Logs:       app (9000 B + 30 events × 26 B) / 10 = 978 B
//	                     + platform 2 lines, 400 B + 2 × 26 B = 452 B
//	                     + access log 450 B + 26 B = 476 B  → 1906 B per send
//	                       1906 / 2^30 GB × $0.50 × 10^6 = $0.887550
//	total $10.779217 per million sent; 2 deliveries per send → $5.389609 per million delivered
//	floor $4.00, overhead $6.029217: share 1.507304
func TestComputeHandCase(t *testing.T) {
	c, m, shape := handCase()
	b, err := Compute(load(t), c, m, shape)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		PartMessages: 4.00, PartHTTP: 0, PartConnections: 0.75, PartLambdaReq: 0.20, PartLambdaTime: 0.066667,
		PartDynamoWrite: 4.375, PartDynamoRead: 0.50, PartSQS: 0, PartEvents: 0, PartLogs: 0.887550,
	}
	for part, usd := range want {
		if got := b.Line(part).PerMillionSent; math.Abs(got-usd) > 1e-6 {
			t.Errorf("%s = $%.6f per million sent, want $%.6f", part, got, usd)
		}
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"total per million sent", b.PerMillionSent, 10.779217},
		{"total per million delivered", b.PerMillionDelivered, 5.389609},
		{"floor", b.Floor, 4.00},
		{"overhead", b.Overhead, 6.029217},
		{"overhead share", b.OverheadShare, 1.507304},
		{"log bytes per send", b.LogBytesPerSend, 1906},
	}
	for _, ch := range checks {
		if math.Abs(ch.got-ch.want) > 1e-6 {
			t.Errorf("%s = %.6f, want %.6f", ch.name, ch.got, ch.want)
		}
	}
	if _, err := Compute(load(t), c, Measured{}, shape); err == nil {
		t.Error("an empty run was priced; want an error")
	}
}

// TestBillMovesWithEveryMeasuredCount changes one measured count at a time
// and checks the bill moves by exactly that count's price: the figures come
// from the run, not from constants.
func TestBillMovesWithEveryMeasuredCount(t *testing.T) {
	p := load(t)
	c, m, shape := handCase()
	base, err := Compute(p, c, m, shape)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(m.Sends)
	cases := []struct {
		name   string
		change func(*Measured)
		part   string
		delta  float64 // USD per million sent, of the part
		// extra is what else moves with it (an invocation brings Lambda's
		// own log lines).
		extra float64
	}{
		{"one more write unit per send", func(m *Measured) { m.WriteUnits += n }, PartDynamoWrite, 0.625, 0},
		{"one more read unit per send", func(m *Measured) { m.ReadUnits += n }, PartDynamoRead, 0.125, 0},
		{"one more frame out per send", func(m *Measured) { m.GatewayUnitsOut += int64(n) }, PartMessages, 1.00, 0},
		{"one more invocation per send", func(m *Measured) {
			f := m.Functions["chat"]
			f.Invocations += int64(n)
			m.Functions["chat"] = f
		}, PartLambdaReq, 0.20, (400 + 2*26) / float64(1<<30) * 0.50 * 1e6},
		{"one more SQS request per send", func(m *Measured) { m.SQSUnits += int64(n) }, PartSQS, 0.40, 0},
		{"one more bus event per send", func(m *Measured) { m.BusEvents += int64(n) }, PartEvents, 1.00, 0},
		{"1 KiB more log per send", func(m *Measured) {
			f := m.Functions["chat"]
			f.LogBytes += int64(n) * 1024
			m.Functions["chat"] = f
		}, PartLogs, 1024.0 / (1 << 30) * 0.50 * 1e6, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c2, m2, s2 := handCase()
			tc.change(&m2)
			b, err := Compute(p, c2, m2, s2)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Line(tc.part).PerMillionSent - base.Line(tc.part).PerMillionSent; math.Abs(got-tc.delta) > 1e-9 {
				t.Errorf("%s moved by $%.9f, want $%.9f", tc.part, got, tc.delta)
			}
			if got := b.PerMillionSent - base.PerMillionSent; math.Abs(got-tc.delta-tc.extra) > 1e-9 {
				t.Errorf("total moved by $%.9f, want $%.9f", got, tc.delta+tc.extra)
			}
		})
	}
}

func TestAnchorsPriceTheSameWorkload(t *testing.T) {
	p := load(t)
	c, _, _ := handCase()
	got := map[string]AnchorCost{}
	for _, a := range Anchors(p, c, 2, 4.75) {
		got[a.Name] = a
	}
	// Ably: (1 publish + 2 deliveries) × $2.50 + 3 connection minutes × $1.00
	// + 1.5 channel minutes × $1.00 + $29 over 1000 × 40 × 8 × 30 sends.
	ably := 7.5 + 3 + 1.5 + 29/(1000.0*40*8*30)*1e6
	if a := got["Ably"]; math.Abs(a.PerMillionSent-ably) > 1e-6 || math.Abs(a.PerMillionDelivered-ably/2) > 1e-6 {
		t.Errorf("Ably = %+v, want $%.6f per million sent", a, ably)
	}
	// AppSync Events: 3 operations × $1.00 + 3 connection minutes × $0.08.
	if a := got["AppSync Events"]; math.Abs(a.PerMillionSent-3.24) > 1e-9 {
		t.Errorf("AppSync Events = %+v, want $3.24", a)
	}
	// Pusher: 3 messages × 320k sends a day = 960k a day, 2,000 connections:
	// Pro ($99: 4M a day, 2,000 connections) over 9.6M sends a month.
	if a := got["Pusher Channels"]; a.Plan != "Pro" || math.Abs(a.PerMillionSent-99/9.6) > 1e-9 {
		t.Errorf("Pusher = %+v, want the Pro plan at $%.6f", a, 99/9.6)
	}
	if a := got["Hotsock"]; !a.LowerBound || a.PerMillionSent != 4.75 {
		t.Errorf("Hotsock = %+v, want the floor as a lower bound", a)
	}
	big := Connections{Groups: 1, Members: 100000, HoursPerDay: 2, SendsPerHour: 10}
	for _, a := range Anchors(p, big, 100000, 1) {
		if a.Name == "Pusher Channels" && (!a.Unpriced || a.Plan != "Enterprise") {
			t.Errorf("Pusher for 100,000 connections = %+v, want no listed plan", a)
		}
	}
}

func TestLogLines(t *testing.T) {
	id := "21031eb6-ca68-4a61-8659-9d451a8774ec"
	if lines := PlatformLines("JSON", "", id, 12.3, 256, 31); len(lines) != 2 || !strings.Contains(lines[1], `"billedDurationMs":13`) {
		t.Errorf("JSON, INFO: %q, want platform.start and platform.report billed 13 ms", lines)
	}
	if lines := PlatformLines("JSON", "WARN", id, 12.3, 256, 31); len(lines) != 0 {
		t.Errorf("JSON, WARN: %q, want none", lines)
	}
	if lines := PlatformLines("Text", "", id, 12.3, 256, 31); len(lines) != 3 || !strings.HasPrefix(lines[2], "REPORT RequestId: "+id) {
		t.Errorf("text: %q, want START, END, REPORT", lines)
	}
	got := AccessLogLine(`{"routeKey":"$context.routeKey","error":"$context.error.message","x":"$context.unknown"}`, "send")
	if got != `{"routeKey":"send","error":"-","x":"-"}` {
		t.Errorf("access log line = %s", got)
	}
}

// TestRecordedRunMovesWithItsCounts prices a 10-member room as make cost
// measured it (testdata/room10.json, 20 sends), then adds what part 2 of
// the issue removes — or what a regression would add — one write unit and
// one @connections frame per send: the bill moves by their prices and
// nothing else moves.
func TestRecordedRunMovesWithItsCounts(t *testing.T) {
	data, err := os.ReadFile("testdata/room10.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Connections Connections `json:"connections"`
		Measured    Measured    `json:"measured"`
		Shape       LogShape    `json:"logShape"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	p := load(t)
	base, err := Compute(p, rec.Connections, rec.Measured, rec.Shape)
	if err != nil {
		t.Fatal(err)
	}
	if got := base.Line(PartMessages).Quantity; got != 12 {
		t.Errorf("recorded run: %g API Gateway messages per send, want 12 (1 in, 10 deliveries, 1 ack)", got)
	}
	m := rec.Measured
	m.WriteUnits += float64(m.Sends)
	m.GatewayUnitsOut += int64(m.Sends)
	moved, err := Compute(p, rec.Connections, m, rec.Shape)
	if err != nil {
		t.Fatal(err)
	}
	if d := moved.PerMillionSent - base.PerMillionSent; math.Abs(d-(0.625+1.00)) > 1e-9 {
		t.Errorf("bill moved by $%.9f per million sent, want $1.625", d)
	}
	for _, part := range []string{PartLambdaReq, PartLambdaTime, PartDynamoRead, PartLogs, PartConnections} {
		if moved.Line(part) != base.Line(part) {
			t.Errorf("%s moved: %+v → %+v", part, base.Line(part), moved.Line(part))
		}
	}
}
