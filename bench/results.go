package main

import (
	"bufio"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Results is everything one run measured; written as results.json.
type Results struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Machine  Machine   `json:"machine"`
	Config   Config    `json:"config"`

	ColdStart []FunctionStart `json:"coldStart"`
	// InitFloor is the init time of the smallest Go function (bench/initfloor)
	// in the same run: what this machine takes to start any Go function.
	InitFloor *FunctionStart  `json:"initFloor,omitempty"`
	Capacity  *Capacity       `json:"capacity,omitempty"`
	ReadCost  []ReadCost      `json:"readCost"`
	Fanout    []FanoutRun     `json:"fanout"`
	Budget    *BudgetCheck    `json:"budget,omitempty"`
	SDK       *SDK            `json:"sdk,omitempty"`
	Liveness  *Liveness       `json:"liveness,omitempty"`
	Lifecycle []LifecycleCost `json:"lifecycle,omitempty"`
	Reloads   []ReloadRun     `json:"reloads,omitempty"`
	Scale     []ScaleRun      `json:"scale"`
	Fill      []FillRun       `json:"fill"`
	Cost      *CostResults    `json:"cost,omitempty"`
	Events    []EventsRun     `json:"events,omitempty"`
	Targets   []Target        `json:"targets"`
	Notes     []string        `json:"notes"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"nproc"`
	CPUModel  string `json:"cpuModel"`
	MemTotal  string `json:"memTotal"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
}

// Config is how the run was set up.
type Config struct {
	Template        string   `json:"template"`
	PostLatencyMs   float64  `json:"postLatencyMs"`
	Sizes           []int    `json:"channelSizes"`
	DevWorkers      int      `json:"devFanoutWorkers"`
	SendBudget      int      `json:"sendBudget"`
	FunctionTimeout string   `json:"chatFunctionTimeout"`
	MaxInstances    int      `json:"maxInstancesPerFunction"`
	Args            []string `json:"args"`
	AccountRate     int      `json:"accountRate"`
	AccountBurst    int      `json:"accountBurst"`
}

// Capacity is the emulator's connection capacity.
type Capacity struct {
	Connections       int     `json:"connections"`
	Held              int     `json:"held"` // still open at the end of the run
	SetupSeconds      float64 `json:"setupSeconds"`
	SetupPerSecond    float64 `json:"setupPerSecond"`
	EmulatorRSSBefore int64   `json:"emulatorRssBefore"`
	EmulatorRSSAfter  int64   `json:"emulatorRssAfter"`
	BytesPerConn      float64 `json:"emulatorBytesPerConnection"`
	HandlersRSS       int64   `json:"handlersRss"` // every handler instance
	HandlerInstances  int     `json:"handlerInstances"`
	DynaliteRSS       int64   `json:"dynaliteRss"`
	BenchRSS          int64   `json:"benchClientsRss"`
}

// ReadCost is the DynamoDB cost of one send, as the real handlers incurred it.
type ReadCost struct {
	Channel    string  `json:"channel"`
	Members    int     `json:"members"`
	TableItems int     `json:"tableItems"`
	Sends      int     `json:"sends"`
	ItemsRead  float64 `json:"itemsReadPerSend"` // mean
	ItemsMin   int     `json:"itemsReadMin"`
	ItemsMax   int     `json:"itemsReadMax"`
	Overhead   float64 `json:"itemsBeyondMembers"` // ItemsRead - Members
	ReadCU     float64 `json:"readCapacityUnitsPerSend"`
	WriteCU    float64 `json:"writeCapacityUnitsPerSend"`
	Calls      string  `json:"callsPerSend"`
}

// FanoutRun is one channel size under one concurrency strategy.
type FanoutRun struct {
	// Path is "handler" (a real send through the gateway and the chat
	// function) or "direct" (internal/fanout driven from the benchmark
	// against the same @connections endpoint and table).
	Path     string  `json:"path"`
	Workers  int     `json:"workers"` // -1: a goroutine per member
	Members  int     `json:"members"`
	Sends    int     `json:"sends"`
	Complete int     `json:"complete"` // sends every member received
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
	Min      float64 `json:"minMs"`
	Max      float64 `json:"maxMs"`
	PerSec   float64 `json:"deliveriesPerSecond"` // members / p50
	// HandlerMs is the fan-out duration the handler logged (p50).
	HandlerMs float64 `json:"handlerFanoutP50Ms,omitempty"`
	// PeakInFlight is the most @connections posts in flight at once.
	PeakInFlight int    `json:"peakInFlight,omitempty"`
	Posts        int    `json:"postsPerSend"`
	Skipped      int    `json:"skipped"`
	Failed       int    `json:"failed"`
	Duplicates   int    `json:"duplicates"`
	Note         string `json:"note,omitempty"`
}

// BudgetCheck shows the send budget capping one broadcast. Once the budget
// is spent, the fan-out skips the rest of the page it is on and reads no
// further page, so members on unread pages are neither posted to nor counted.
type BudgetCheck struct {
	Members   int `json:"members"`
	Budget    int `json:"budget"`
	Read      int `json:"membersRead"`
	Delivered int `json:"posted"`
	Skipped   int `json:"skipped"`
	Unread    int `json:"notRead"`
	Received  int `json:"received"`
}

// Target is a goal with its measured value.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
	// NotMeasured: this run did not measure it (a smaller -sizes, -skip, or
	// an early stop).
	NotMeasured bool    `json:"notMeasured,omitempty"`
	Why         string  `json:"why,omitempty"`
	scaleRatio  float64 // the virtual row's p99 ÷ limit, for Why
}

func (t Target) verdict() string {
	switch {
	case t.NotMeasured:
		return "n/a "
	case t.Pass:
		return "PASS"
	}
	return "MISS"
}

// percentile is the nearest-rank percentile p (0..100) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if p <= 0 {
		return s[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version()}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.CPUs = n
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
					m.MemTotal = strconv.FormatFloat(float64(kb)/(1<<20), 'f', 1, 64) + " GiB"
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (t Target) ratio() float64 { return t.scaleRatio }
