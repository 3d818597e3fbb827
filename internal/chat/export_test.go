package chat

import "time"

// SetClock replaces the handlers' clock, for tests.
func SetClock(c *ConnectHandler, d *DisconnectHandler, h *ChatHandler, now func() time.Time) {
	c.now, d.now, h.now = now, now, now
}
