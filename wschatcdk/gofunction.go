package chatstack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// GoFunctionProps configures one Go Lambda function with the house defaults.
type GoFunctionProps struct {
	// ModuleRoot is the directory holding go.mod.
	ModuleRoot string
	// Name is the folder under lambdas/ (a contract.Function* name).
	Name         string
	Description  string
	MemoryMB     int
	Timeout      time.Duration
	Tracing      bool
	LogRetention awslogs.RetentionDays
	Retain       bool
	Environment  map[string]string
}

// GoFunction is a provided.al2023 arm64 function built from lambdas/<Name>,
// with its own log group and its own role. The role starts empty: no managed
// policy, only what grants add, so each function holds exactly the permissions
// its code uses.
type GoFunction struct {
	constructs.Construct
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// NewGoFunction defines the function, its role and its log group.
func NewGoFunction(scope constructs.Construct, id string, props GoFunctionProps) *GoFunction {
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
		Code:          goCode(props.ModuleRoot, props.Name),
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
	cfn.AddMetadata(jsii.String(contract.MetadataGoPackage), jsii.String("./lambdas/"+props.Name))

	return &GoFunction{Construct: c, Function: fn, Role: role, LogGroup: logGroup}
}

// goCode bundles lambdas/<name> at synth time with goBundler. The asset hash
// is taken from the built binary (AssetHashType_OUTPUT): the default source
// hash covers only lambdas/<name>, so an edit in internal/ would deploy stale
// code under an unchanged hash.
func goCode(moduleRoot, name string) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(moduleRoot, "lambdas", name)), &awss3assets.AssetOptions{
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			// Docker is never used: goBundler always builds locally. CDK only
			// reaches for this image when the local build failed, and then the
			// name points at the real error printed above it.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("wschat-go-build-failed-see-the-error-above")),
			Local: &goBundler{moduleRoot: moduleRoot, pkg: "./lambdas/" + name},
		},
	})
}

// goBundler cross-compiles one Go package into the asset's bootstrap.
type goBundler struct {
	moduleRoot string
	pkg        string
}

// TryBundle implements awscdk.ILocalBundling.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	out := filepath.Join(*outputDir, "bootstrap")
	cmd := exec.Command("go", GoBuildArgs(out, b.pkg)...)
	cmd.Dir = b.moduleRoot
	cmd.Env = append(os.Environ(), GoBuildEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "wschat: bundling %s failed: %v\n%s", b.pkg, err, stderr.String())
		return jsii.Bool(false)
	}
	fmt.Fprintf(os.Stderr, "wschat: bundled %s (linux/arm64) in %.1fs\n", b.pkg, time.Since(start).Seconds())
	return jsii.Bool(true)
}

// GoBuildArgs are the go command's arguments for a Lambda binary: static,
// reproducible (no paths, no VCS stamp) and without the RPC shim that
// provided.al2023 does not use.
func GoBuildArgs(out, pkg string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg}
}

// GoBuildEnv targets Lambda's arm64 Linux.
func GoBuildEnv() []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}
}
