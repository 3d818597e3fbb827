package metrics

import (
	"context"
	"log/slog"
	"sync"
)

// A request writes one log line at info level (docs/cost.md: log bytes
// are billed per GB). Its metrics ride on that line: an EMF line may carry
// any other field, so the request's own line, with the _aws block and the
// values added, is both its log record and its metrics. The values a
// request records before its line is written wait in a batch in its
// context; whatever is left when the request ends is flushed as a line of
// its own.

type batchKey struct{}

type batch struct {
	mu     sync.Mutex
	values []Value
}

// WithBatch returns a context in which Record keeps values for the
// request's line (Attrs) or its end (Flush) instead of writing them.
func WithBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, &batch{})
}

func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// take removes and returns the batched values.
func (b *batch) take() []Value {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.values
	b.values = nil
	return v
}

// Record keeps values in ctx's batch (WithBatch), or writes them as a line
// of their own when ctx has none.
func (e *Emitter) Record(ctx context.Context, values ...Value) {
	if e == nil || len(values) == 0 {
		return
	}
	if b := batchOf(ctx); b != nil {
		b.mu.Lock()
		b.values = append(b.values, values...)
		b.mu.Unlock()
		return
	}
	e.Emit(values...)
}

// Attrs turns values, and the values batched in ctx, into the attributes
// that make a log line an EMF line: each value at the top level and the
// _aws block naming them. The batch is emptied. The caller must write the
// line (check the logger is enabled for its level first, or Record the
// values instead). nil when there is nothing to add.
func (e *Emitter) Attrs(ctx context.Context, values ...Value) []slog.Attr {
	if e == nil {
		return nil
	}
	all := append(batchOf(ctx).take(), values...)
	if len(all) == 0 {
		return nil
	}
	d := directive{Namespace: e.namespace, Dimensions: [][]string{{}}}
	attrs := make([]slog.Attr, 0, len(all)+1)
	seen := map[string]bool{}
	for _, v := range all {
		if seen[v.Name] {
			continue // a name twice in one EMF line is invalid: the first wins
		}
		seen[v.Name] = true
		d.Metrics = append(d.Metrics, metricDef{Name: v.Name, Unit: v.Unit})
		attrs = append(attrs, slog.Float64(v.Name, v.Value))
	}
	attrs = append(attrs, slog.Any("_aws", awsBlock{Timestamp: e.now().UnixMilli(), CloudWatchMetrics: []directive{d}}))
	return attrs
}

// Flush writes the values still batched in ctx as one line.
func (e *Emitter) Flush(ctx context.Context) {
	if e == nil {
		return
	}
	e.Emit(batchOf(ctx).take()...)
}
