package eventbridge

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"time"
)

// Limits of PutEvents.
const (
	MaxEntries   = 10
	MaxPutBytes  = 256 * 1024
	targetPrefix = "AWSEvents."
)

// Handler serves EventBridge's PutEvents over AWS JSON 1.1 (the caller
// checks signatures). Other operations answer UnknownOperationException:
// buses and rules come from the template, never from a request.
func (r *Router) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "POST only")
			return
		}
		op := req.Header.Get("X-Amz-Target")
		if op != targetPrefix+"PutEvents" {
			writeError(w, http.StatusBadRequest, "UnknownOperationException", "the emulator's EventBridge serves PutEvents only, not "+op)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 2*MaxPutBytes))
		if err != nil {
			writeError(w, http.StatusBadRequest, "ValidationException", err.Error())
			return
		}
		entries, err := decodePutEvents(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "ValidationException", err.Error())
			return
		}
		results, err := r.Put(entries)
		if errors.Is(err, ErrNoBus) {
			writeError(w, http.StatusBadRequest, "ResourceNotFoundException", err.Error())
			return
		}
		failed := 0
		for _, res := range results {
			if res.ErrorCode != "" {
				failed++
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"FailedEntryCount": failed, "Entries": results})
	})
}

// decodePutEvents reads a PutEvents body; Time is epoch seconds, as the
// SDK sends it.
func decodePutEvents(body []byte) ([]Entry, error) {
	var in struct {
		Entries []struct {
			Entry
			Time *json.Number `json:"Time"`
		} `json:"Entries"`
		EndpointID string `json:"EndpointId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errors.New("request body is not a PutEvents request: " + err.Error())
	}
	switch {
	case in.EndpointID != "":
		return nil, errors.New("global endpoints are not emulated")
	case len(in.Entries) == 0 || len(in.Entries) > MaxEntries:
		return nil, errors.New("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	total := 0
	out := make([]Entry, len(in.Entries))
	for i, e := range in.Entries {
		total += len(e.Source) + len(e.DetailType) + len(e.Detail) + 14
		for _, res := range e.Resources {
			total += len(res)
		}
		out[i] = e.Entry
		if e.Time != nil {
			sec, err := e.Time.Float64()
			if err != nil || sec < 0 {
				return nil, errors.New("entry Time is not epoch seconds")
			}
			whole, frac := math.Modf(sec)
			out[i].Time = time.Unix(int64(whole), int64(frac*1e9))
		}
	}
	if total > MaxPutBytes {
		return nil, errors.New("total size of the entries in the request is over the limit (256 KB)")
	}
	return out, nil
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// TailHandler streams every event put on any bus as one JSON line
// ({"bus","rules","event"}) until the client goes away.
func (r *Router) TailHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		lines, stop := r.Follow()
		defer stop()
		flusher, _ := w.(http.Flusher)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if flusher != nil {
			flusher.Flush()
		}
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return
				}
				if _, err := w.Write(append(line, '\n')); err != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			case <-req.Context().Done():
				return
			}
		}
	})
}
