package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestAccountLimitAnswers429 drives the management API past an account
// limit of 5 calls/s, burst 10, with the real SDK client (its own retries
// off), and counts what got through.
func TestAccountLimitAnswers429(t *testing.T) {
	a := newTestAPI(t, apiOptions{account: &Limit{Rate: 5, Burst: 10}})
	c := a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	registered(t, a, id)                             // a few GETs, counted too
	time.Sleep(2*time.Second + 100*time.Millisecond) // the bucket (10 at 5/s) refills
	before := a.gw.Throttled()
	client := apigatewaymanagementapi.New(sdkClient(a).Options(), func(o *apigatewaymanagementapi.Options) {
		o.Retryer = aws.NopRetryer{}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	const calls = 40
	ok, throttled := 0, 0
	start := time.Now()
	for i := range calls {
		var err error
		if i%2 == 0 {
			_, err = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{}`)})
		} else {
			_, err = client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
		}
		var re *smithyhttp.ResponseError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.HTTPStatusCode() == 429 && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool():
			throttled++
		default:
			t.Fatalf("call %d: %v, want success or a 429 the SDK classifies as throttling", i, err)
		}
	}
	elapsed := time.Since(start).Seconds()
	// The burst plus what the rate refilled meanwhile got through.
	maxOK := 10 + int(elapsed*5) + 1
	if ok < 10 || ok > maxOK || throttled != calls-ok || a.gw.Throttled()-before != int64(throttled) {
		t.Errorf("%d ok, %d throttled (gateway counted %d) in %.2fs; want 10..%d ok, the rest 429", ok, throttled, a.gw.Throttled(), elapsed, maxOK)
		t.Logf("gateway throttled %d before the burst", before)
	}
	for range ok / 2 {
		read(t, c) // the posts that got through arrived
	}
	t.Logf("%d calls: %d ok, %d answered 429 TooManyRequestsException", calls, ok, throttled)
}
