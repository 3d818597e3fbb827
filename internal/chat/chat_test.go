package chat_test

import (
	"fmt"
	"testing"

	"github.com/wschat/wschat/internal/chat"
)

func TestBudget(t *testing.T) {
	b := chat.NewBudget(2)
	got := []bool{b.Take(), b.Take(), b.Take()}
	if fmt.Sprint(got) != "[true true false]" {
		t.Errorf("Take on a budget of 2 = %v, want [true true false]", got)
	}
	var unlimited *chat.Budget
	if !unlimited.Take() || !chat.NewBudget(0).Take() || unlimited.Exhausted() || chat.NewBudget(0).Exhausted() {
		t.Error("a nil or zero budget must be unlimited")
	}
	if !b.Exhausted() {
		t.Error("a spent budget must report Exhausted")
	}
}
