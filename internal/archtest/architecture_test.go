package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/modroot"
)

const module = "github.com/wschat/wschat"

// rule forbids a set of packages the imports that would break a boundary.
// Each rule names why; each pattern must match at least one existing
// package, so that a rename cannot make a rule pass vacuously.
type rule struct {
	// packages: import paths; "X/..." means X and every package below it.
	packages []string
	// except: packages the patterns match that the rule does not cover.
	except []string
	// forbid: import paths (same pattern syntax) that none of the packages
	// may depend on, directly or transitively.
	forbid []string
	// onlyProject, when set, is the complete list of module packages the
	// packages may depend on (every other wschat/... import is forbidden).
	onlyProject []string
	why         string
}

var (
	cdk = []string{
		"github.com/aws/aws-cdk-go/...",
		"github.com/aws/constructs-go/...",
		"github.com/aws/jsii-runtime-go/...",
		"github.com/cdklabs/...",
	}
	sdkServices = []string{"github.com/aws/aws-sdk-go-v2/service/..."}
	lambdaGo    = []string{"github.com/aws/aws-lambda-go/..."}
)

var rules = []rule{
	{
		packages: []string{module + "/internal/chat"},
		forbid:   concat(lambdaGo, sdkServices),
		why: "the domain (types, sentinel errors, Budget, the poster interfaces) is what every adapter " +
			"and handler shares; it must not drag Lambda event types or an AWS service client into them",
	},
	{
		packages: []string{module + "/internal/dynamo/...", module + "/internal/connections", module + "/internal/fanout", module + "/internal/queue",
			module + "/internal/eventbus", module + "/internal/hook", module + "/internal/secrets"},
		forbid: lambdaGo,
		why:    "adapters sit below the handlers: they speak the domain's types, not Lambda's events",
	},
	{
		packages: []string{module + "/internal/handler"},
		forbid:   sdkServices,
		why: "handlers depend on small interfaces; only the adapters import an AWS service client and " +
			"translate its errors into the domain's (STYLE.md rule 8)",
	},
	{
		packages: []string{module + "/lambdas/..."},
		forbid: concat([]string{
			"github.com/aws/aws-sdk-go-v2/config",
			module + "/infra/...", module + "/wschatcdk", module + "/local/...", module + "/bench/...", module + "/reliability/...",
			module + "/tools/...", module + "/internal/emutest", module + "/internal/badnet", module + "/internal/liveproof", module + "/internal/testkit",
			module + "/internal/localissuer", module + "/internal/dynalite", module + "/internal/eventschema",
		}, cdk),
		why: "every byte linked into a handler is deployed and cold-started: the SDK's config loader adds " +
			"about a megabyte the wiring deliberately avoids, and infra, emulator, bench and test code " +
			"have no business in a deployed function",
	},
	{
		packages: []string{module + "/lambdas/..."},
		forbid:   []string{"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/...", module + "/internal/connections/sdkposter"},
		why: "the functions post through internal/connections' lean poster: the SDK's @connections client " +
			"runs about 290 allocations of middleware per post (docs/cost.md) and adds to every zip; " +
			"sdkposter keeps it only for the benchmark that measures the difference",
	},
	{
		packages: []string{module + "/..."},
		except:   []string{module + "/infra/...", module + "/wschatcdk"},
		forbid:   cdk,
		why: "only the construct (wschatcdk) and the app (infra/) synthesize: aws-cdk-go and jsii start a " +
			"Node.js process and weigh tens of megabytes; the runtime, the emulator and the tools read the " +
			"synthesized template instead",
	},
	{
		packages: []string{module + "/wschatcdk"},
		onlyProject: []string{module + "/internal/contract", module + "/wire", module + "/wire/events", module + "/internal/modroot",
			module + "/internal/gobuild"},
		why: "the construct shares names (environment variables, route keys, metadata keys), not code, with " +
			"the runtime: internal/contract is the one bridge (it names the wire contract's actions), so a " +
			"rename cannot desync the two sides; it builds the handlers by import path (internal/gobuild), " +
			"never links them",
	},
	{
		packages: []string{module + "/infra/..."},
		onlyProject: []string{module + "/infra/chatstack", module + "/wschatcdk", module + "/internal/contract", module + "/wire", module + "/wire/events",
			module + "/internal/modroot", module + "/internal/gobuild"},
		why: "wschat's own stacks are a consumer of the construct like any other app: what they need of " +
			"the project is wschatcdk and what it brings",
	},
	{
		packages: []string{module + "/internal/..."},
		forbid: []string{module + "/local/...", module + "/bench/...", module + "/reliability/...", module + "/tools/...",
			module + "/infra/...", module + "/wschatcdk", module + "/lambdas/..."},
		why: "internal/ is the bottom layer: the handlers, the emulator, the benchmarks, the tools and the " +
			"stacks import it, never the other way round (test support such as emutest and the template " +
			"reader it shares with the emulator live here for that reason)",
	},
	{
		packages:    []string{module + "/wire"},
		onlyProject: []string{},
		forbid:      concat(cdk, lambdaGo, []string{"github.com/aws/..."}, []string{"github.com/coder/websocket"}),
		why: "the wire contract is the one module both SDKs import: anything it imports lands in every " +
			"importer's module graph",
	},
	{
		packages:    []string{module + "/client", module + "/client/js"},
		onlyProject: []string{module + "/wire"},
		forbid:      concat(cdk, lambdaGo, []string{"github.com/aws/..."}),
		why: "the Go SDK is its own light module: an application that only wants the client must get " +
			"neither server code nor the AWS CDK, Lambda or an AWS SDK",
	},
	{
		packages:    []string{module + "/publisher"},
		onlyProject: []string{module + "/wire"},
		forbid:      concat(cdk, lambdaGo, sdkServices, []string{"github.com/coder/websocket"}),
		why: "a backend that only publishes gets the signer and the wire contract, no server code, no " +
			"WebSocket library, no AWS service client",
	},
	{
		packages: []string{module + "/local/gateway", module + "/local/lambda", module + "/internal/template", module + "/local/lambdaenv", module + "/local/sqs", module + "/local/httpapi", module + "/internal/vtl",
			module + "/internal/eventpattern", module + "/local/ddbstream", module + "/local/eventbridge", module + "/local/secretsmanager"},
		onlyProject: []string{module + "/internal/eventpattern", module + "/internal/loopback", module + "/internal/sigv4", module + "/internal/vtl"},
		why: "the emulator's API Gateway, Lambda runtime, SQS queues, DynamoDB streams, EventBridge, template reader and mapping templates are generic: " +
			"they emulate AWS for any template, so they must not know wschat's handlers, store or protocol (the event pattern syntax, the loopback " +
			"guard and the SigV4 check every listener shares are generic too)",
	},
	{
		packages:    []string{module + "/internal/loopback", module + "/internal/sigv4"},
		onlyProject: []string{},
		why:         "the guards of the local listeners know HTTP and SigV4, not the emulator or wschat",
	},
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// match reports whether importPath is matched by pattern ("X" or "X/...").
func match(pattern, importPath string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return importPath == base || strings.HasPrefix(importPath, base+"/")
	}
	return importPath == pattern
}

func matchAny(patterns []string, importPath string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, importPath) })
}

// graph maps each package of the module to its transitive dependencies.
type graph map[string][]string

// loadGraph lists every package of the module with `go list -deps`, the
// way the go tool resolves them (build tags of this platform, no tests).
func loadGraph(t *testing.T) graph {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	// The SDK modules (wire and wire/events, client, publisher) are nested modules: ./...
	// stops at their go.mod, so they are named; the root's replace
	// directives resolve them to this checkout.
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{"\t"}}{{join .Deps " "}}`, "./...", module+"/wire", module+"/wire/events", module+"/client", module+"/client/js", module+"/publisher")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	g := graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		pkg, deps, _ := strings.Cut(sc.Text(), "\t")
		g[pkg] = strings.Fields(deps)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

// check returns one line per violation of r in g, and the packages r
// covered. A pattern that covers no package is itself a violation.
func (r rule) check(g graph) (violations []string, covered int) {
	for _, p := range r.packages {
		n := 0
		for pkg := range g {
			if match(p, pkg) {
				n++
			}
		}
		if n == 0 {
			violations = append(violations, fmt.Sprintf("pattern %s matches no package: a rename left the rule checking nothing", p))
		}
	}
	for _, allowed := range r.onlyProject {
		if _, ok := g[allowed]; !ok {
			violations = append(violations, fmt.Sprintf("allowed package %s does not exist", allowed))
		}
	}
	pkgs := make([]string, 0, len(g))
	for pkg := range g {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	for _, pkg := range pkgs {
		if !matchAny(r.packages, pkg) || matchAny(r.except, pkg) {
			continue
		}
		covered++
		for _, dep := range g[pkg] {
			bad := matchAny(r.forbid, dep)
			if r.onlyProject != nil && match(module+"/...", dep) && !slices.Contains(r.onlyProject, dep) {
				bad = true
			}
			if bad {
				violations = append(violations, fmt.Sprintf("%s depends on %s", pkg, dep))
			}
		}
	}
	return violations, covered
}

func TestArchitecture(t *testing.T) {
	g := loadGraph(t)
	for _, r := range rules {
		t.Run(path.Base(strings.TrimSuffix(r.packages[0], "/...")), func(t *testing.T) {
			violations, covered := r.check(g)
			for _, v := range violations {
				t.Errorf("%s\n\twhy the rule exists: %s", v, r.why)
			}
			if covered == 0 {
				t.Errorf("the rule covered no package")
			}
			if r.onlyProject != nil {
				t.Logf("%d packages checked: they may import %d project packages and nothing else from wschat", covered, len(r.onlyProject))
			} else {
				t.Logf("%d packages checked against %d forbidden patterns", covered, len(r.forbid))
			}
		})
	}
}

// TestRulesCatchViolations is the positive control: the checker reports a
// forbidden import, a project import outside an allow-list, and a pattern
// that matches nothing — on a made-up graph, so it cannot pass because the
// real code happens to be clean.
func TestRulesCatchViolations(t *testing.T) {
	g := graph{
		module + "/internal/dynamo":     {"github.com/aws/aws-lambda-go/events", "context"},
		module + "/infra/chatstack":     {module + "/internal/contract", module + "/internal/chat"},
		module + "/internal/contract":   nil,
		module + "/internal/chat":       {"errors"},
		module + "/lambdas/chat":        {"github.com/aws/aws-sdk-go-v2/config"},
		module + "/local/gateway":       {"net/http"},
		module + "/infra/chatstack/sub": {"github.com/aws/aws-cdk-go/awscdk/v2"},
		module + "/internal/emutest":    {module + "/local/template", "context"},
		module + "/local/template":      nil,
	}
	tests := []struct {
		name string
		r    rule
		want []string
	}{
		{"forbidden import", rule{packages: []string{module + "/internal/dynamo/..."}, forbid: lambdaGo},
			[]string{module + "/internal/dynamo depends on github.com/aws/aws-lambda-go/events"}},
		{"allow-list", rule{packages: []string{module + "/infra/chatstack"}, onlyProject: []string{module + "/internal/contract"}},
			[]string{module + "/infra/chatstack depends on " + module + "/internal/chat"}},
		{"empty allow-list", rule{packages: []string{module + "/local/gateway"}, onlyProject: []string{}}, nil},
		{"transitive config", rule{packages: []string{module + "/lambdas/..."}, forbid: []string{"github.com/aws/aws-sdk-go-v2/config"}},
			[]string{module + "/lambdas/chat depends on github.com/aws/aws-sdk-go-v2/config"}},
		{"except", rule{packages: []string{module + "/..."}, except: []string{module + "/infra/..."}, forbid: cdk}, nil},
		{"up the layers", rule{packages: []string{module + "/internal/..."}, forbid: []string{module + "/local/..."}},
			[]string{module + "/internal/emutest depends on " + module + "/local/template"}},
		{"vacuous pattern", rule{packages: []string{module + "/internal/nosuch"}, forbid: lambdaGo},
			[]string{"pattern " + module + "/internal/nosuch matches no package: a rename left the rule checking nothing"}},
		{"missing allowed package", rule{packages: []string{module + "/infra/chatstack"}, onlyProject: []string{module + "/internal/contract", module + "/internal/gone"}},
			[]string{"allowed package " + module + "/internal/gone does not exist", module + "/infra/chatstack depends on " + module + "/internal/chat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := tt.r.check(g)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
