package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestBufferCollectsConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&b, "%02d;", i)
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 60 {
		t.Fatalf("len = %d, want 60 (20 writes of 3 bytes)", got)
	}
	b.Reset()
	if got := b.String(); got != "" {
		t.Fatalf("after Reset: %q, want empty", got)
	}
}

func TestClockSetAndAdvance(t *testing.T) {
	c := NewClock()
	if got := c.Now(); !got.Equal(Epoch) {
		t.Fatalf("NewClock().Now() = %v, want %v", got, Epoch)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), Epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: %v, want %v", got, want)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Set(at)
	if got := c.Now(); !got.Equal(at) {
		t.Fatalf("after Set: %v, want %v", got, at)
	}
}
