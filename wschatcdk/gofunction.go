package wschatcdk

import (
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// lambdasPackage is where the layer's handlers are: lambdasPackage/<name>.
const lambdasPackage = "github.com/wschat/wschat/lambdas"

// goFunctionProps configures one Go Lambda function with the house defaults.
type goFunctionProps struct {
	// Build builds the binary; Package is the import path of its main
	// package, as the app's go.mod resolves it.
	Build   goBuild
	Package string
	// Name is the function's short name (a contract.Function* name).
	Name         string
	Description  string
	MemoryMB     int
	Timeout      time.Duration
	Tracing      bool
	LogRetention awslogs.RetentionDays
	Retain       bool
	Environment  map[string]string
}

// goFunction is a provided.al2023 arm64 function built from a Go main
// package, with its own log group and its own role. The role starts empty:
// no managed policy, only what grants add, so each function holds exactly
// the permissions its code uses.
type goFunction struct {
	constructs.Construct
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// newGoFunction defines the function, its role and its log group.
func newGoFunction(scope constructs.Construct, id string, props goFunctionProps) *goFunction {
	c := constructs.NewConstruct(scope, jsii.String(id))

	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: removalPolicy(props.Retain),
	})

	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(fmt.Sprintf("wschat %s function", props.Name)),
	})
	// Instead of AWSLambdaBasicExecutionRole (logs:* on every log group), the
	// function may write to its own log group only.
	logGroup.GrantWrite(role)

	tracing := awslambda.Tracing_DISABLED
	if props.Tracing {
		tracing = awslambda.Tracing_ACTIVE
	}

	env := make(map[string]*string, len(props.Environment))
	for k, v := range props.Environment {
		env[k] = jsii.String(v)
	}

	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:   jsii.String(props.Description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          props.Build.code(props.Package),
		MemorySize:    jsii.Number(float64(props.MemoryMB)),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(props.Timeout.Seconds())),
		Tracing:       tracing,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logGroup,
		Role:          role,
		Environment:   &env,
	})
	// The local emulator rebuilds the function for the host from this package.
	cfn := fn.Node().DefaultChild().(awslambda.CfnFunction)
	cfn.AddMetadata(jsii.String(contract.MetadataGoPackage), jsii.String(props.Package))

	return &goFunction{Construct: c, Function: fn, Role: role, LogGroup: logGroup}
}

// code bundles pkg at synth time with goBundler. The asset hash is taken
// from the built binary (AssetHashType_OUTPUT): a hash of any source
// directory would miss an edit in a package the handler imports (or an
// upgrade of wschat in go.mod), and deploy stale code under an unchanged
// hash.
func (b goBuild) code(pkg string) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(b.moduleDir), &awss3assets.AssetOptions{
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			// Docker is never used: goBundler always builds locally. CDK only
			// reaches for this image when the local build failed, and then the
			// name points at the real error printed above it.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("wschat-go-build-failed-see-the-error-above")),
			// What goBundler runs, for the record. It is also what tells the
			// bundles apart in CDK's in-process asset cache, which keys on
			// the source path (here the module, the same for every
			// function) and these options.
			Command: jsii.Strings(append([]string{"go"}, goBuildArgs("/asset-output/bootstrap", pkg)...)...),
			Local:   bundlerOf(b, pkg),
		},
	})
}

// bundlers holds one goBundler per module and package. CDK's asset cache
// keys on the bundling options, the local bundler's jsii reference among
// them: one bundler per package lets the stacks of one app (or test
// process) share each bundle instead of building it once per stack.
var bundlers sync.Map

func bundlerOf(b goBuild, pkg string) *goBundler {
	g, _ := bundlers.LoadOrStore(b.moduleDir+"\x00"+pkg, &goBundler{build: b, pkg: pkg})
	return g.(*goBundler)
}

// goBundler cross-compiles one Go package into the asset's bootstrap.
type goBundler struct {
	build goBuild
	pkg   string
}

// TryBundle implements awscdk.ILocalBundling.
func (g *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	start := time.Now()
	if err := g.build.lambda(g.pkg, *outputDir); err != nil {
		fmt.Fprintf(bundleLog, "wschat: bundling %s failed: %v\n", g.pkg, err)
		return jsii.Bool(false)
	}
	fmt.Fprintf(bundleLog, "wschat: bundled %s (linux/arm64) in %.1fs\n", g.pkg, time.Since(start).Seconds())
	return jsii.Bool(true)
}

// goBuildArgs are the go command's arguments for a Lambda binary: static,
// reproducible (no paths, no VCS stamp) and without the RPC shim that
// provided.al2023 does not use.
func goBuildArgs(out, pkg string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg}
}

// goBuildEnv targets Lambda's arm64 Linux.
func goBuildEnv() []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}
}
