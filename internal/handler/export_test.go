package handler

import "time"

// SetClock replaces the handlers' clock, for the tests of package
// handler_test, which drive the handlers on a testkit.Clock.
func SetClock(c *Connect, d *Disconnect, h *Chat, now func() time.Time) {
	c.now, d.now, h.now = now, now, now
}
