package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/gobuild"
	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/lambdaenv"
)

// deployFlags are the go build flags the stack bundles each function with
// (wschatcdk goBuildArgs; not imported, so the benchmark does not
// compile the CDK): static, no paths, no VCS stamp, no RPC shim, stripped.
var deployFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w"}

// FunctionStart is one function's deployment size and init time.
type FunctionStart struct {
	Name string `json:"name"`
	// RawBytes and ZipBytes are the linux/arm64 bootstrap as deployed, and
	// its deployment zip (ZipMethod says how it was compressed).
	RawBytes  int64  `json:"rawBytes"`
	ZipBytes  int64  `json:"zipBytes"`
	ZipMethod string `json:"zipMethod"`
	// SameAsAsset: the build is byte-identical to the synthesized asset in
	// cdk.out (so the flags match the stack's).
	SameAsAsset *bool `json:"sameAsAsset,omitempty"`
	// HostRawBytes is the host build the init time is measured on.
	HostRawBytes int64 `json:"hostRawBytes"`
	// Init* is process start to its first GET /runtime/invocation/next, over
	// Starts starts of the host build.
	Starts   int     `json:"starts"`
	InitP50  float64 `json:"initP50Ms"`
	InitP90  float64 `json:"initP90Ms"`
	InitMin  float64 `json:"initMinMs"`
	InitMax  float64 `json:"initMaxMs"`
	InitNote string  `json:"initNote,omitempty"`
	// Holds is what the binary is made of, by group of packages, for a
	// function over the size limit.
	Holds []SizeGroup `json:"holds,omitempty"`
}

// measureColdStarts builds every lambdas/<fn> for linux/arm64 (sizes) and
// for the host (init time, `starts` starts each).
func measureColdStarts(ctx context.Context, root string, stack *template.Stack, starts int, progress func(string, ...any)) ([]FunctionStart, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "lambdas", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "wschat-bench-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	byPkg := map[string]*template.Function{}
	for _, f := range stack.Functions {
		byPkg[f.GoPackage] = f
	}

	var out []FunctionStart
	for _, mainGo := range dirs {
		name := filepath.Base(filepath.Dir(mainGo))
		pkg := gobuild.Module + "/lambdas/" + name
		fs := FunctionStart{Name: name, Starts: starts}

		arm := filepath.Join(tmp, "arm64", name, "bootstrap")
		t0 := time.Now()
		if err := goBuild(ctx, root, pkg, arm, "linux", "arm64"); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(arm)
		if err != nil {
			return nil, err
		}
		fs.RawBytes = int64(len(data))
		if fs.ZipBytes, fs.ZipMethod, err = zipSize(root, data); err != nil {
			return nil, err
		}
		if f := byPkg[pkg]; f != nil && f.AssetDir != "" {
			if asset, err := os.ReadFile(filepath.Join(f.AssetDir, "bootstrap")); err == nil {
				same := sha256.Sum256(asset) == sha256.Sum256(data)
				fs.SameAsAsset = &same
			}
		}
		progress("  %-10s linux/arm64 %s raw, %s zipped (built in %.1fs)", name, mb(fs.RawBytes), mb(fs.ZipBytes), time.Since(t0).Seconds())
		if fs.ZipBytes > zipLimit {
			if fs.Holds, err = breakdown(ctx, root, pkg, filepath.Join(tmp, "arm64", name)); err != nil {
				return nil, err
			}
		}

		host := filepath.Join(tmp, "host", name, "bootstrap")
		if err := goBuild(ctx, root, pkg, host, runtime.GOOS, runtime.GOARCH); err != nil {
			return nil, err
		}
		if st, err := os.Stat(host); err == nil {
			fs.HostRawBytes = st.Size()
		}
		env := functionEnv(byPkg[pkg])
		times, err := initTimes(ctx, host, env, starts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ms := make([]float64, len(times))
		for i, d := range times {
			ms[i] = float64(d.Microseconds()) / 1000
		}
		fs.InitP50, fs.InitP90 = percentile(ms, 50), percentile(ms, 90)
		fs.InitMin, fs.InitMax = percentile(ms, 0), percentile(ms, 100)
		progress("  %-10s init p50 %.1f ms (min %.1f, max %.1f) over %d starts of the %s/%s build", name, fs.InitP50, fs.InitMin, fs.InitMax, starts, runtime.GOOS, runtime.GOARCH)
		out = append(out, fs)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no functions under %s", filepath.Join(root, "lambdas"))
	}
	return out, nil
}

func goBuild(ctx context.Context, root, pkg, out, goos, goarch string) error {
	args := append([]string{"build"}, deployFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %v\n%s", pkg, goos, goarch, err, b)
	}
	return nil
}

// zipSize is the size of the deployment zip of a "bootstrap" holding data.
// The CDK CLI zips assets with yazl, that is Node's zlib deflate at its
// default level, so that is what is measured here (Node is installed for
// dynalite anyway), plus the zip framing of one entry (local header, central
// directory, end record: 116 bytes). Without Node it falls back to Go's
// flate, whose output is within about 0.1% of it.
func zipSize(root string, data []byte) (int64, string, error) {
	const framing = 30 + len("bootstrap") + 46 + len("bootstrap") + 22
	cmd := exec.Command("node", "-e", `const z=require("zlib");const c=[];process.stdin.on("data",d=>c.push(d)).on("end",()=>process.stdout.write(String(z.deflateRawSync(Buffer.concat(c)).length)))`)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return n + int64(framing), "zlib default level (as the CDK CLI)", nil
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return 0, "", err
	}
	if _, err := w.Write(data); err != nil {
		return 0, "", err
	}
	if err := zw.Close(); err != nil {
		return 0, "", err
	}
	return int64(buf.Len()), "Go compress/flate default level (node not found)", nil
}

// functionEnv is the function's environment from the template, with local
// stand-ins for what cannot resolve here (the authorizer's issuer), plus
// what Lambda and the emulator add. Nothing is reachable: init must not
// need the network.
func functionEnv(f *template.Function) []string {
	var fnEnv map[string]string
	if f != nil {
		fnEnv = f.Env
	}
	env := lambdaenv.Merge("us-east-1", "http://127.0.0.1:9", fnEnv)
	maps.Copy(env, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "bench",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
	})
	if f != nil {
		for k := range f.EnvErrors {
			env[k] = "unresolved"
		}
		if f.MemoryMB > 0 {
			env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.MemoryMB)
		}
	}
	// What the emulator gives the authorizer: a local issuer (unreachable here).
	env[contract.EnvAuthIssuer] = "http://127.0.0.1:9/local-issuer"
	env[contract.EnvAuthAudiences] = "wschat-local"
	env[contract.EnvAuthJWKSURL] = "http://127.0.0.1:9/local-issuer/.well-known/jwks.json"
	if _, ok := env[contract.EnvAuthTokenUse]; ok {
		env[contract.EnvAuthTokenUse] = localissuer.TokenUse
	}
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// initTimes starts bin n times (after one unmeasured start that warms the
// page cache) and returns, for each, the time from starting the process to
// its first GET /2018-06-01/runtime/invocation/next.
func initTimes(ctx context.Context, bin string, env []string, n int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	arrived := make(chan time.Time, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case arrived <- time.Now():
			default:
			}
			<-r.Context().Done() // never hand out an invocation
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())

	var out []time.Duration
	for i := -1; i < n; i++ {
		cmd := exec.Command(bin)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		exited := make(chan error, 1)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		go func() { exited <- cmd.Wait() }()
		select {
		case at := <-arrived:
			if i >= 0 {
				out = append(out, at.Sub(start))
			}
		case err := <-exited:
			return nil, fmt.Errorf("exited during init: %v: %s", err, strings.TrimSpace(stderr.String()))
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("no GET /invocation/next within 10s")
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return nil, ctx.Err()
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	return out, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// mb formats a file size in decimal megabytes, the unit of the size target.
func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
