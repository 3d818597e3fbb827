// Package metrics writes CloudWatch embedded metric format (EMF) lines: JSON
// log lines that CloudWatch Logs turns into metrics, with no API call and no
// added latency in the handler. Metric names and the namespace variable are
// in the contract package, shared with the stack's alarms.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Unit is a CloudWatch metric unit.
type Unit string

// Units used by the handlers.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// DefaultNamespace is used when WSCHAT_METRICS_NAMESPACE is unset.
const DefaultNamespace = "WsChat"

// Value is one metric sample.
type Value struct {
	Name  string
	Unit  Unit
	Value float64
}

// Emitter writes EMF lines to w. A nil *Emitter discards everything. It is
// safe for concurrent use.
type Emitter struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	now       func() time.Time
}

// New returns an Emitter writing to w (os.Stdout in Lambda) under namespace.
func New(w io.Writer, namespace string) *Emitter {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Emitter{w: w, namespace: namespace, now: time.Now}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsBlock struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes the values as one EMF line, without dimensions. Write errors
// are ignored: metrics must never fail a request.
func (e *Emitter) Emit(values ...Value) {
	if e == nil || len(values) == 0 {
		return
	}
	d := directive{Namespace: e.namespace, Dimensions: [][]string{{}}}
	line := make(map[string]any, len(values)+1)
	for _, v := range values {
		d.Metrics = append(d.Metrics, metricDef{Name: v.Name, Unit: v.Unit})
		line[v.Name] = v.Value
	}
	line["_aws"] = awsBlock{Timestamp: e.now().UnixMilli(), CloudWatchMetrics: []directive{d}}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(b)
}
