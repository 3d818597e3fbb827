package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// tmpl builds a template from JSON resources.
func tmpl(t *testing.T, resources string) template {
	t.Helper()
	var tp template
	if err := json.Unmarshal([]byte(`{"Resources":`+resources+`}`), &tp); err != nil {
		t.Fatalf("bad test template: %v", err)
	}
	return tp
}

const fnBase = `{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":256,"Role":{"Fn::GetAtt":["R","Arn"]},
	"Environment":{"Variables":{"WSCHAT_LOG_LEVEL":"info","WSCHAT_AUTH_ISSUER":"https://a"}}},
	"Metadata":{"aws:cdk:path":"S/Fn"}}`

func TestCompareTemplates(t *testing.T) {
	tests := []struct {
		name         string
		base, head   string
		want         []string // ResourceChange.String() of each change
		wantSecurity []string // logical ids flagged
	}{
		{
			name: "identical",
			base: `{"Fn":` + fnBase + `}`, head: `{"Fn":` + fnBase + `}`,
		},
		{
			name: "metadata and CDK metadata resource are ignored",
			base: `{"Fn":` + fnBase + `,"CDKMetadata":{"Type":"AWS::CDK::Metadata","Properties":{"Analytics":"a"}}}`,
			head: `{"Fn":` + strings.Replace(fnBase, "S/Fn", "S/Renamed", 1) + `}`,
		},
		{
			name: "memory is not security",
			base: `{"Fn":` + fnBase + `}`,
			head: `{"Fn":` + strings.Replace(fnBase, "256", "512", 1) + `}`,
			want: []string{"Fn (AWS::Lambda::Function) modified: MemorySize"},
		},
		{
			name: "a tuning variable is not security",
			base: `{"Fn":` + fnBase + `}`,
			head: `{"Fn":` + strings.Replace(fnBase, `"info"`, `"debug"`, 1) + `}`,
			want: []string{"Fn (AWS::Lambda::Function) modified: Environment.WSCHAT_LOG_LEVEL"},
		},
		{
			name:         "the token issuer is security",
			base:         `{"Fn":` + fnBase + `}`,
			head:         `{"Fn":` + strings.Replace(fnBase, "https://a", "https://b", 1) + `}`,
			want:         []string{"Fn (AWS::Lambda::Function) modified: Environment.WSCHAT_AUTH_ISSUER"},
			wantSecurity: []string{"Fn"},
		},
		{
			name:         "the function's role is security",
			base:         `{"Fn":` + fnBase + `}`,
			head:         `{"Fn":` + strings.Replace(fnBase, `["R","Arn"]`, `["Admin","Arn"]`, 1) + `}`,
			want:         []string{"Fn (AWS::Lambda::Function) modified: Role"},
			wantSecurity: []string{"Fn"},
		},
		{
			name:         "a policy statement",
			base:         `{"P":{"Type":"AWS::IAM::Policy","Properties":{"PolicyDocument":{"Statement":[{"Action":"dynamodb:Query"}]}}}}`,
			head:         `{"P":{"Type":"AWS::IAM::Policy","Properties":{"PolicyDocument":{"Statement":[{"Action":["dynamodb:Query","dynamodb:Scan"]}]}}}}`,
			want:         []string{"P (AWS::IAM::Policy) modified: PolicyDocument"},
			wantSecurity: []string{"P"},
		},
		{
			name: "added permission and removed security group; added table",
			base: `{"SG":{"Type":"AWS::EC2::SecurityGroup","Properties":{}}}`,
			head: `{"Perm":{"Type":"AWS::Lambda::Permission","Properties":{}},"T":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{}}}`,
			want: []string{
				"Perm (AWS::Lambda::Permission) added",
				"SG (AWS::EC2::SecurityGroup) removed",
				"T (AWS::DynamoDB::GlobalTable) added",
			},
			wantSecurity: []string{"Perm", "SG"},
		},
		{
			name:         "a route loses its authorizer",
			base:         `{"Route":{"Type":"AWS::ApiGatewayV2::Route","Properties":{"RouteKey":"$connect","AuthorizationType":"CUSTOM"}}}`,
			head:         `{"Route":{"Type":"AWS::ApiGatewayV2::Route","Properties":{"RouteKey":"$connect","AuthorizationType":"NONE"}}}`,
			want:         []string{"Route (AWS::ApiGatewayV2::Route) modified: AuthorizationType"},
			wantSecurity: []string{"Route"},
		},
		{
			name: "removal policy is a change but not security",
			base: `{"Tbl":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{},"DeletionPolicy":"Retain"}}`,
			head: `{"Tbl":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{},"DeletionPolicy":"Delete"}}`,
			want: []string{"Tbl (AWS::DynamoDB::GlobalTable) modified: DeletionPolicy"},
		},
		{
			name: "scaling policies grant nothing",
			base: `{}`,
			head: `{"S":{"Type":"AWS::ApplicationAutoScaling::ScalingPolicy","Properties":{}}}`,
			want: []string{"S (AWS::ApplicationAutoScaling::ScalingPolicy) added"},
		},
		{
			name:         "bucket policy",
			base:         `{}`,
			head:         `{"BP":{"Type":"AWS::S3::BucketPolicy","Properties":{}}}`,
			want:         []string{"BP (AWS::S3::BucketPolicy) added"},
			wantSecurity: []string{"BP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := CompareTemplates(tmpl(t, tt.base), tmpl(t, tt.head))
			var got, gotSec []string
			for _, c := range d.Changes {
				got = append(got, c.String())
			}
			for _, c := range d.SecurityChanges() {
				gotSec = append(gotSec, c.LogicalID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes:\ngot  %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(gotSec, tt.wantSecurity) {
				t.Errorf("security changes: got %q, want %q", gotSec, tt.wantSecurity)
			}
		})
	}
}

func TestNewStackIsAllAdded(t *testing.T) {
	d := CompareTemplates(template{}, tmpl(t, `{"Fn":`+fnBase+`,"R":{"Type":"AWS::IAM::Role","Properties":{}}}`))
	added, removed, modified := d.Count()
	if added != 2 || removed != 0 || modified != 0 {
		t.Errorf("Count() = %d, %d, %d; want 2, 0, 0", added, removed, modified)
	}
	if got := len(d.SecurityChanges()); got != 1 {
		t.Errorf("security changes = %d, want 1 (the role)", got)
	}
}

func TestStackMissing(t *testing.T) {
	tests := []struct {
		output string
		want   bool
	}{
		// What the app says for an environment it does not know.
		{`wschat synth: unknown environment "qa": valid environments are dev, prod, staging`, true},
		// What CDK CLI 2.1148.1 says when the app defines no such stack.
		{"No stacks match the name(s) WsChat-qa", true},
		{`wschat synth: unknown environment "qa2"`, false},
		{"infra/chatstack/stack.go:3: undefined: x", false},
	}
	for _, tt := range tests {
		if got := stackMissing(tt.output, "qa"); got != tt.want {
			t.Errorf("stackMissing(%q) = %v, want %v", tt.output, got, tt.want)
		}
	}
}
