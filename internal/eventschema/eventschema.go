// Package eventschema checks integration events against the JSON Schemas
// of wire/events, for tests (the events function's unit tests and the
// emulator's end-to-end test validate the events they see). It is test
// support: never linked into a Lambda binary.
package eventschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/wschat/wschat/wire/events"
)

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time is checked, not only annotated
	compiled = map[string]*jsonschema.Schema{}
	for _, dt := range events.Types {
		raw, err := events.Schema(dt)
		if err != nil {
			loadErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			loadErr = fmt.Errorf("schema %s: %w", dt, err)
			return
		}
		url := "urn:wschat:events:" + dt
		if err := c.AddResource(url, doc); err != nil {
			loadErr = fmt.Errorf("schema %s: %w", dt, err)
			return
		}
		if compiled[dt], err = c.Compile(url); err != nil {
			loadErr = fmt.Errorf("schema %s: %w", dt, err)
			return
		}
	}
}

// Validate checks detail (JSON) against the schema of detailType.
func Validate(detailType string, detail []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[detailType]
	if !ok {
		return fmt.Errorf("no schema for detail-type %q", detailType)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("%s detail is not JSON: %w", detailType, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%s detail %s: %w", detailType, detail, err)
	}
	return nil
}

// ValidateEvent checks a whole EventBridge event (as a target gets it):
// the envelope's fields and the detail against its detail-type's schema.
func ValidateEvent(body []byte) (events.Event, error) {
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("event is not an EventBridge event: %w", err)
	}
	if ev.Version != "0" || ev.ID == "" || ev.Source == "" || ev.Account == "" || ev.Region == "" || ev.Time.IsZero() || ev.Resources == nil {
		return ev, fmt.Errorf("event envelope incomplete: %s", body)
	}
	return ev, Validate(ev.DetailType, ev.Detail)
}
