package lambdaenv

import (
	"maps"
	"testing"
)

func TestMerge(t *testing.T) {
	base := map[string]string{
		"AWS_REGION":                "eu-west-1",
		"AWS_DEFAULT_REGION":        "eu-west-1",
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(base)
		maps.Copy(m, extra)
		return m
	}
	tests := []struct {
		name     string
		endpoint string
		fn       map[string]string
		want     map[string]string
	}{
		{"defaults only", "", nil, base},
		{"local DynamoDB", "http://127.0.0.1:8000", nil, with(map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"})},
		{"function variables", "", map[string]string{"TABLE": "t"}, with(map[string]string{"TABLE": "t"})},
		{"template wins", "http://127.0.0.1:8000", map[string]string{"AWS_REGION": "us-east-2", "AWS_ENDPOINT_URL_DYNAMODB": "http://x"},
			with(map[string]string{"AWS_REGION": "us-east-2", "AWS_ENDPOINT_URL_DYNAMODB": "http://x"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge("eu-west-1", tt.endpoint, tt.fn)
			if !maps.Equal(got, tt.want) {
				t.Errorf("Merge = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithEndpointsSetsSQS(t *testing.T) {
	got := WithEndpoints("eu-west-1", Endpoints{DynamoDB: "http://127.0.0.1:8000", SQS: "http://127.0.0.1:9324"}, nil)
	if got["AWS_ENDPOINT_URL_SQS"] != "http://127.0.0.1:9324" || got["AWS_ENDPOINT_URL_DYNAMODB"] != "http://127.0.0.1:8000" {
		t.Errorf("WithEndpoints = %v, want both endpoints", got)
	}
	if _, ok := Merge("eu-west-1", "", nil)["AWS_ENDPOINT_URL_SQS"]; ok {
		t.Error("Merge set AWS_ENDPOINT_URL_SQS without an SQS endpoint")
	}
}
