package template

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestStageThrottle(t *testing.T) {
	rate, burst := 50.0, 100
	tests := []struct {
		name    string
		stage   map[string]any // properties added to the stage
		want    StageThrottle
		wantErr string // property named by the error
	}{
		{"none", nil, StageThrottle{}, ""},
		{"default", map[string]any{"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}},
			StageThrottle{Default: &RouteThrottle{Rate: 50, Burst: 100}}, ""},
		{"default without limits", map[string]any{"DefaultRouteSettings": map[string]any{"DetailedMetricsEnabled": true}}, StageThrottle{}, ""},
		{"rate only takes the account burst", map[string]any{"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 5}},
			StageThrottle{Default: &RouteThrottle{Rate: 5, Burst: 5000}}, ""},
		{"per route", map[string]any{"RouteSettings": map[string]any{"send": map[string]any{"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 0.5}}},
			StageThrottle{Routes: map[string]RouteThrottle{"send": {Rate: 0.5, Burst: 1}}}, ""},
		{"not a literal", map[string]any{"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": map[string]any{"Ref": "Rate"}}}, StageThrottle{}, "DefaultRouteSettings"},
		{"route settings not an object", map[string]any{"RouteSettings": []any{1}}, StageThrottle{}, "RouteSettings"},
	}
	data, err := os.ReadFile("testdata/minimal.template.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.stage {
				props(doc["Resources"].(map[string]any), "Stage")[k] = v
			}
			b, _ := json.Marshal(doc)
			s, err := Parse(b, "testdata", opts)
			if tt.wantErr != "" {
				var te *Error
				if !errors.As(err, &te) || te.Property != tt.wantErr {
					t.Fatalf("err = %v, want a *template.Error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Throttle, tt.want) {
				t.Errorf("Throttle = %+v (default %+v), want %+v (default %+v)", s.Throttle, s.Throttle.Default, tt.want, tt.want.Default)
			}
		})
	}
}
