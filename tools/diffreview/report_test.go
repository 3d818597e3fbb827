package main

import (
	"bytes"
	"strings"
	"testing"
)

func sampleReview(cli string) Review {
	return Review{
		BaseRef: "origin/main", BaseSHA: "1a2b3c4d5e", BaseShort: "1a2b3c4", HeadLabel: "working tree (9f8e7d6)",
		Stacks: []StackResult{
			{Env: "dev", Stack: "WsChat-dev", CLIDiff: cli, Diff: TemplateDiff{Changes: []ResourceChange{
				{LogicalID: "Fn", Type: "AWS::Lambda::Function", Kind: Modified, Fields: []string{"MemorySize"}},
				{LogicalID: "P", Type: "AWS::IAM::Policy", Kind: Modified, Fields: []string{"PolicyDocument"}, Security: true},
			}}},
			{Env: "qa", Stack: "WsChat-qa", New: true, CLIDiff: "Stack WsChat-qa", Diff: TemplateDiff{Changes: []ResourceChange{
				{LogicalID: "T", Type: "AWS::DynamoDB::GlobalTable", Kind: Added},
			}}},
		},
	}
}

func TestSummaryLine(t *testing.T) {
	r := sampleReview("")
	tests := []struct {
		stack StackResult
		want  string
	}{
		{r.Stacks[0], "WsChat-dev: 2 resources changed (0 added, 0 removed, 2 modified), IAM/security changes: yes"},
		{r.Stacks[1], "WsChat-qa: new stack (not defined in base 1a2b3c4), 1 resources added, IAM/security changes: no"},
		{StackResult{Stack: "WsChat-prod"}, "WsChat-prod: 0 resources changed (0 added, 0 removed, 0 modified), IAM/security changes: no"},
	}
	for _, tt := range tests {
		if got := summaryLine(tt.stack, r.BaseShort); got != tt.want {
			t.Errorf("summaryLine:\ngot  %q\nwant %q", got, tt.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	cli := "Stack WsChat-dev\n[~] AWS::Lambda::Function Fn\n └─ [~] MemorySize\n     ├─ [-] 256\n     └─ [+] 384"
	var b bytes.Buffer
	if err := writeMarkdown(&b, sampleReview(cli), true); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		commentMarker,
		"| `WsChat-dev` | 2 | 0 | 0 | 2 | **yes** (1) |",
		"| `WsChat-qa` (new) | 1 | 1 | 0 | 0 | no |",
		"- `WsChat-dev` P (AWS::IAM::Policy) modified: PolicyDocument",
		"```diff\n Stack WsChat-dev\n![~] AWS::Lambda::Function Fn\n",
		"\n-     ├─ [-] 256\n+     └─ [+] 384\n```",
		"<details open><summary><code>WsChat-dev</code>",
		"<details><summary><code>WsChat-qa</code>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestMarkdownFitsAComment(t *testing.T) {
	huge := strings.Repeat("[+] a line of an enormous diff ```\n", 10000)
	var b bytes.Buffer
	if err := writeMarkdown(&b, sampleReview(huge), false); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if len(md) > 65536 {
		t.Errorf("markdown is %d bytes, over GitHub's comment limit", len(md))
	}
	if !strings.Contains(md, "diff truncated") {
		t.Error("a truncated diff does not say so")
	}
	if !strings.Contains(md, "````diff\n") {
		t.Error("a diff containing ``` is not fenced with a longer fence")
	}
	if !strings.Contains(md, "WsChat-qa") {
		t.Error("the second stack was crowded out by the first")
	}
}

func TestParseEnvs(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"dev,staging,prod", "dev staging prod", false},
		{" prod , dev,prod,", "prod dev", false},
		{"", "", true},
		{"Prod", "", true},
		{"dev;rm -rf", "", true},
	}
	for _, tt := range tests {
		got, err := parseEnvs(tt.in)
		if (err != nil) != tt.wantErr || strings.Join(got, " ") != tt.want {
			t.Errorf("parseEnvs(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, exitOK},
		{[]string{"-no-such-flag"}, exitUsage},
		{[]string{"-env", "Bad!"}, exitUsage},
		{[]string{"-color", "sometimes"}, exitUsage},
		{[]string{"stray"}, exitUsage},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), tt.args, func(string) string { return "" }, &stdout, &stderr); got != tt.want {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, got, tt.want, stderr.String())
		}
	}
}
