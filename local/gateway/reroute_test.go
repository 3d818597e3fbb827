package gateway

import (
	"encoding/json"
	"testing"
)

// TestRerouteKeepsConnections: after Reroute, an open connection's next
// message is routed by the new table, and the connection stays open.
func TestRerouteKeepsConnections(t *testing.T) {
	a := newTestAPI(t, apiOptions{noDefault: true})
	c := a.dial(t, "", nil)
	a.connect.next(t)

	// Before: "ping" has no route and there is no $default.
	write(t, c, `{"action":"ping"}`)
	var frame map[string]string
	if err := json.Unmarshal([]byte(read(t, c)), &frame); err != nil || frame["message"] != "Forbidden" {
		t.Fatalf("before Reroute: %v %v, want Forbidden", frame, err)
	}

	pinged := newFn(func([]byte) ([]byte, error) { return []byte(`{"statusCode":200,"body":"pong"}`), nil })
	expr, err := ParseExpression("$request.body.action")
	if err != nil {
		t.Fatal(err)
	}
	a.gw.Reroute(expr, map[string]*Route{
		RouteConnect:    {Key: RouteConnect, Integration: a.connect},
		RouteDisconnect: {Key: RouteDisconnect, Integration: a.discon},
		"ping":          {Key: "ping", Integration: pinged, TwoWay: true},
	}, nil)

	write(t, c, `{"action":"ping"}`)
	if got := read(t, c); got != "pong" {
		t.Errorf("after Reroute: %q, want the new route's answer pong", got)
	}
	if ev := pinged.next(t); rc(ev)["routeKey"] != "ping" {
		t.Errorf("new route got %v", rc(ev))
	}
}
