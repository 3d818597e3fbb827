package main

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wschat/wschat/local/gateway"
)

func TestAccountLimitFlags(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		args    []string
		wantErr string
		want    *gateway.Limit
	}{
		{nil, "", &gateway.Limit{Rate: 10000, Burst: 5000}}, // API Gateway's account limit, on by default
		{[]string{"--account-rate", "1000", "--account-burst", "200"}, "", &gateway.Limit{Rate: 1000, Burst: 200}},
		{[]string{"--account-rate", "0"}, "", nil},
		{[]string{"--account-rate", "-1"}, "must not be negative", nil},
		{[]string{"--account-burst", "0"}, "at least 1", nil},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, getenv, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := accountLimit(c.accountRate, c.accountBurst); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: account limit %+v, want %+v", tt.args, got, tt.want)
		}
	}
}
