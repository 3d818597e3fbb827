package handler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
)

// ExpiryStore is what the expiry function reads and writes.
type ExpiryStore interface {
	SweptThrough(ctx context.Context) (minute int64, ok bool, err error)
	SetSweptThrough(ctx context.Context, minute int64) error
	DueExpiries(ctx context.Context, minute int64, now time.Time) ([]chat.Expiry, error)
	DeleteExpiry(ctx context.Context, e chat.Expiry) error
	Connection(ctx context.Context, id string) (chat.Connection, error)
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error)
}

// expiryLookback bounds how far back a first (or very late) run reads the
// index: no connection outlives API Gateway's 2 hours.
const expiryLookback = 130 * time.Minute

// expiryWorkers bounds the connections one run closes at once.
const expiryWorkers = 16

// expiryReserve is kept free before the invocation's deadline: entries not
// reached are left for the next run (the minute is not marked done).
const expiryReserve = 2 * time.Second

// Expiry is the expiry function's handler, run on a schedule
// (contract.ExpirySchedule): it closes every connection whose grant has
// ended, idle ones included, which no request would otherwise find (a
// connection kept open by pings that the gateway answers never invokes a
// handler). It reads the expiry index minute by minute from the last one
// it finished (Query per shard, never Scan); for each entry that is due it
// reads the connection, and unless a reauth extended its grant, posts it a
// token_expired error and closes it (API Gateway then runs $disconnect).
// A minute is marked done only once every entry of it was handled, so a
// failed or cut-short run is completed by the next.
type Expiry struct {
	store  ExpiryStore
	poster chat.Poster
	closer Closer
	log    *slog.Logger
	meter  Meter
	now    func() time.Time
}

// NewExpiry returns the expiry function's handler: p tells a connection
// why it is closed, c closes it.
func NewExpiry(store ExpiryStore, p chat.Poster, c Closer, log *slog.Logger, meter Meter) *Expiry {
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	return &Expiry{store: store, poster: p, closer: c, log: log, meter: meter, now: time.Now}
}

// SetClock replaces the clock (tests).
func (h *Expiry) SetClock(now func() time.Time) { h.now = now }

// ExpiryStats counts one run.
type ExpiryStats struct {
	Minutes, Due, Closed, Renewed, Gone int
}

// Handle runs once. The event (EventBridge's scheduled event) carries
// nothing it needs.
func (h *Expiry) Handle(ctx context.Context, _ any) (ExpiryStats, error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-expiryReserve))
		defer cancel()
	}
	now := h.now().UTC()
	nowMin := now.Unix() / 60
	from := now.Add(-expiryLookback).Unix() / 60
	last, ok, err := h.store.SweptThrough(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "expiry run failed", logging.Err(err))
		return ExpiryStats{}, err
	}
	if ok && last+1 > from {
		from = last + 1
	}
	var st ExpiryStats
	for m := from; m <= nowMin && ctx.Err() == nil; m++ {
		st.Minutes++
		done, err := h.minute(ctx, m, now, &st)
		if err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "expiry run failed", slog.Int64("minute", m), logging.Err(err))
			return st, err
		}
		// The current minute is re-read next time: grants end in it later.
		if !done || m == nowMin {
			break
		}
		if err := h.store.SetSweptThrough(ctx, m); err != nil {
			return st, err
		}
	}
	if st.Closed > 0 {
		h.meter.Record(ctx, metrics.Value{Name: contract.MetricConnectionsExpired, Unit: metrics.Count, Value: float64(st.Closed)})
	}
	// A run with nothing due (most of them) is not worth a line at info.
	level := slog.LevelDebug
	if st.Due > 0 {
		level = slog.LevelInfo
	}
	h.log.LogAttrs(ctx, level, "expiry run", slog.Int("minutes", st.Minutes), slog.Int("due", st.Due),
		slog.Int("closed", st.Closed), slog.Int("renewed", st.Renewed), slog.Int("gone", st.Gone))
	return st, nil
}

// minute handles the due entries of one minute; done is false when some
// entry could not be handled (it stays for the next run).
func (h *Expiry) minute(ctx context.Context, m int64, now time.Time, st *ExpiryStats) (bool, error) {
	due, err := h.store.DueExpiries(ctx, m, now)
	if err != nil {
		return false, err
	}
	st.Due += len(due)
	var (
		wg                            sync.WaitGroup
		closed, renewed, gone, failed atomic.Int64
		sem                           = make(chan struct{}, expiryWorkers)
	)
	for _, e := range due {
		if ctx.Err() != nil {
			failed.Add(1)
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			switch outcome, err := h.expire(ctx, e, now); {
			case err != nil:
				failed.Add(1)
				h.log.LogAttrs(ctx, slog.LevelWarn, "expiry of a connection failed", slog.String("connectionId", e.ConnectionID), logging.Err(err))
			case outcome == expiryClosed:
				closed.Add(1)
			case outcome == expiryRenewed:
				renewed.Add(1)
			default:
				gone.Add(1)
			}
		})
	}
	wg.Wait()
	st.Closed += int(closed.Load())
	st.Renewed += int(renewed.Load())
	st.Gone += int(gone.Load())
	return failed.Load() == 0, nil
}

type expiryOutcome int

const (
	expiryGone expiryOutcome = iota
	expiryRenewed
	expiryClosed
)

// expire handles one entry: a connection gone or renewed only loses its
// entry; one whose grant ended is told and closed first.
func (h *Expiry) expire(ctx context.Context, e chat.Expiry, now time.Time) (expiryOutcome, error) {
	c, err := h.store.Connection(ctx, e.ConnectionID)
	outcome := expiryClosed
	switch {
	case errors.Is(err, chat.ErrNotFound):
		outcome = expiryGone
	case err != nil:
		return 0, err
	case c.Until.IsZero() || c.Until.After(now):
		outcome = expiryRenewed
	default:
		if err := h.close(ctx, c); errors.Is(err, chat.ErrGone) {
			outcome = expiryGone
		} else if err != nil {
			return 0, err
		}
	}
	return outcome, h.store.DeleteExpiry(ctx, e)
}

func (h *Expiry) close(ctx context.Context, c chat.Connection) error {
	frame, err := protocol.Encode(protocol.ErrorEvent{Code: protocol.CodeTokenExpired, Message: errTokenExpired().Message})
	if err == nil {
		err = h.poster.Post(ctx, c.ID, frame)
	}
	if err != nil && !errors.Is(err, chat.ErrGone) {
		h.log.LogAttrs(ctx, slog.LevelWarn, "token_expired not delivered", slog.String("connectionId", c.ID), logging.Err(err))
	}
	err = h.closer.Delete(ctx, c.ID)
	if errors.Is(err, chat.ErrGone) {
		// Gone without a $disconnect: clean up as the fan-out does.
		if _, rerr := h.store.RemoveConnection(ctx, c.ID); rerr != nil && !errors.Is(rerr, chat.ErrNotFound) {
			return rerr
		}
	}
	return err
}
