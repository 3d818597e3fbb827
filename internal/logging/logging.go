// Package logging is the one logging set-up of every Lambda function of
// wschat (authorizer, connect, disconnect, chat): JSON lines with Lambda's
// own keys (timestamp, level, message), Lambda's invocation id as
// awsRequestId, the request attributes a handler puts in the context
// (connectionId, routeKey, apiRequestId, …), and one key for errors (Error).
//
// aws-lambda-go's lambdacontext.NewLogHandler (v1.55.1) is not used: it
// always writes to os.Stdout (so a test cannot capture it), takes its level
// and format from AWS_LAMBDA_LOG_LEVEL/AWS_LAMBDA_LOG_FORMAT rather than
// contract.EnvLogLevel, defaults to text, and names Lambda's id "requestId",
// the name API Gateway's own request id would be mistaken for. Its key
// mapping, lambdacontext.ReplaceAttr, is used as is.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Keys every function logs under, so that one query finds a field in the
// logs of all four.
const (
	// AWSRequestID is Lambda's invocation id (lambdacontext), on every line
	// logged with the invocation's context.
	AWSRequestID = "awsRequestId"
	// APIRequestID is API Gateway's id of the WebSocket request
	// (requestContext.requestId), the id error frames give the client.
	APIRequestID = "apiRequestId"
	// Error is the key of an error's text.
	Error = "error"
)

// New returns the JSON logger of a function process writing to w. level is
// the value of contract.EnvLogLevel: debug, info (the default when empty),
// warn or error, in any case.
func New(w io.Writer, level string) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: replaceAttr})
	return slog.New(Handler{Handler: h}), nil
}

// replaceAttr is lambdacontext.ReplaceAttr (Lambda's key names), with the
// line's time to the millisecond, as Lambda writes its own: a log line is
// billed by the byte, and nanoseconds say nothing CloudWatch keeps.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	a = lambdacontext.ReplaceAttr(groups, a)
	if len(groups) == 0 && a.Value.Kind() == slog.KindTime {
		a.Value = slog.StringValue(a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return a
}

// ParseLevel reads a log level name: debug, info ("" too), warn or error.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", level)
}

// Err is the attribute of an error, under the one error key.
func Err(err error) slog.Attr { return slog.String(Error, err.Error()) }

type attrsKey struct{}

// WithAttrs returns a context whose log lines (through a Handler) carry
// attrs after those ctx carries already.
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	return context.WithValue(ctx, attrsKey{}, append(prev[:len(prev):len(prev)], attrs...))
}

// Handler adds the attributes stored in the context by WithAttrs, and
// Lambda's invocation id, to every record, so code below the handlers (the
// fan-out) logs them without being handed a request-scoped logger.
type Handler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(attrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String(AWSRequestID, lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return Handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{h.Handler.WithGroup(name)}
}
