package main

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// SizeGroup is the code and data one group of packages puts into a
// function's binary (the symbol sizes of an unstripped linux/arm64 build).
type SizeGroup struct {
	Group string `json:"group"`
	Bytes int64  `json:"bytes"`
}

// sizeGroups name what a function links, by import path prefix, first
// match wins.
var sizeGroups = []struct{ prefix, group string }{
	{"github.com/aws/aws-sdk-go-v2/service/dynamodb", "AWS SDK: DynamoDB client"},
	{"github.com/aws/aws-sdk-go-v2/service/sqs", "AWS SDK: SQS client"},
	{"github.com/aws/aws-sdk-go-v2/service/", "AWS SDK: other service clients"},
	{"github.com/aws/aws-sdk-go-v2", "AWS SDK: core (signer, retries, middleware)"},
	{"github.com/aws/smithy-go", "AWS SDK: smithy-go (serde, transport)"},
	{"github.com/aws/aws-lambda-go", "aws-lambda-go"},
	{"github.com/wschat/wschat", "wschat"},
	{"net/http", "net/http (HTTP/1.1 and HTTP/2)"},
	{"vendor/golang.org/x/net/http2", "net/http (HTTP/1.1 and HTTP/2)"},
	{"vendor/golang.org/x/net", "net/http (HTTP/1.1 and HTTP/2)"},
	{"crypto/", "crypto and TLS"},
	{"vendor/golang.org/x/crypto", "crypto and TLS"},
	{"runtime", "Go runtime"},
	{"encoding/", "encoding (JSON, ...)"},
	{"reflect", "reflect"},
}

// breakdown builds pkg for linux/arm64 without stripping and sums its
// symbols by group, largest first.
func breakdown(ctx context.Context, root, pkg, dir string) ([]SizeGroup, error) {
	bin := filepath.Join(dir, "unstripped")
	args := []string{"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-o", bin, pkg}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: symbols: %w", bin, err)
	}
	sums := map[string]int64{}
	for _, sym := range syms {
		// Only what the file holds: not .bss and .noptrbss (NOBITS).
		if int(sym.Section) <= 0 || int(sym.Section) >= len(f.Sections) || f.Sections[sym.Section].Type == elf.SHT_NOBITS {
			continue
		}
		sums[groupOf(sym.Name)] += int64(sym.Size)
	}
	var groups []SizeGroup
	for g, n := range sums {
		groups = append(groups, SizeGroup{Group: g, Bytes: n})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Bytes > groups[j].Bytes })
	return groups, nil
}

func groupOf(symbol string) string {
	symbol = strings.TrimPrefix(symbol, "type:")
	symbol = strings.TrimPrefix(symbol, "go:")
	for _, g := range sizeGroups {
		if strings.HasPrefix(symbol, g.prefix) {
			return g.group
		}
	}
	return otherGroup
}

// otherGroup is what no prefix names: the rest of the standard library
// and the Go runtime's tables.
const otherGroup = "other (standard library, Go tables)"

// holdsText says what the n largest groups a deployment could do without
// weigh (not the Go runtime, not the standard library's rest), for a
// miss's why.
func holdsText(groups []SizeGroup, n int) string {
	var parts []string
	for _, g := range groups {
		if len(parts) == n {
			break
		}
		if g.Group == otherGroup || g.Group == "Go runtime" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", g.Group, mb(g.Bytes)))
	}
	return strings.Join(parts, ", ")
}

// measureInitFloor times the init of bench/initfloor, built for the host
// like the functions.
func measureInitFloor(ctx context.Context, root string, starts int, progress func(string, ...any)) (*FunctionStart, error) {
	dir, err := os.MkdirTemp("", "wschat-bench-floor-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bootstrap")
	if err := goBuild(ctx, root, "./bench/initfloor", bin, runtime.GOOS, runtime.GOARCH); err != nil {
		return nil, err
	}
	times, err := initTimes(ctx, bin, []string{"AWS_LAMBDA_FUNCTION_NAME=initfloor"}, starts)
	if err != nil {
		return nil, fmt.Errorf("initfloor: %w", err)
	}
	ms := make([]float64, len(times))
	for i, d := range times {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	fs := &FunctionStart{Name: "initfloor", Starts: starts, InitP50: percentile(ms, 50), InitP90: percentile(ms, 90), InitMin: percentile(ms, 0), InitMax: percentile(ms, 100)}
	progress("  %-10s init p50 %.1f ms: the smallest Go function (aws-lambda-go only), the machine's floor", "initfloor", fs.InitP50)
	return fs, nil
}
