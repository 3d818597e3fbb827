package handler_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
)

// goneCloser answers every close with ErrGone, as API Gateway does for a
// connection it has already forgotten.
type goneCloser struct{ closer }

func (c *goneCloser) Delete(ctx context.Context, id string) error {
	_ = c.closer.Delete(ctx, id)
	return chat.ErrGone
}

// connectReplacing runs $connect for id as auth, naming replaces.
func (e *env) connectReplacing(id string, auth map[string]any, replaces string) {
	e.t.Helper()
	req := fixture(e.t, "connect")
	req.RequestContext.ConnectionID = id
	req.RequestContext.Authorizer = auth
	req.QueryStringParameters = map[string]string{contract.ReplacesParameter: replaces}
	if resp, err := e.connect.Handle(e.t.Context(), req); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("connect %s = %d, %v; want 200", id, resp.StatusCode, err)
	}
}

// TestConnectClosesTheConnectionItReplaces: a reconnecting client's
// replaces= closes its own silent connection at once (API Gateway then runs
// its $disconnect); another user's id, an unknown or malformed id, and the
// new connection's own id change nothing.
func TestConnectClosesTheConnectionItReplaces(t *testing.T) {
	ann, bob := user("user-ann", "Ann"), user("user-bob", "Bob")
	tests := []struct {
		name, replaces string
		want           []string
	}{
		{"own silent connection", "old-ann", []string{"old-ann"}},
		{"another user's", "old-bob", nil},
		{"unknown", "never-was", nil},
		{"malformed", "a b{c}", nil},
		{"itself", "new", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			cl := &closer{}
			e.connect.ReplaceWith(cl)
			e.open("old-ann", ann)
			e.open("old-bob", bob)
			e.connectReplacing("new", ann, tt.replaces)
			if got := cl.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("closed %v, want %v", got, tt.want)
			}
			if _, err := e.store.Connection(t.Context(), "new"); err != nil {
				t.Errorf("the new connection is not stored: %v", err)
			}
		})
	}
}

// TestReplacedConnectionAlreadyGoneIsRemoved: when API Gateway has
// forgotten the replaced connection (410) but the store still has it, its
// memberships are removed here, since its $disconnect evidently never ran.
func TestReplacedConnectionAlreadyGoneIsRemoved(t *testing.T) {
	e := newEnv(t, testConfig())
	cl := &goneCloser{}
	e.connect.ReplaceWith(cl)
	ann := user("user-ann", "Ann")
	e.open("old-ann", ann)
	e.must("old-ann", ann, `{"action":"join","channel":"general"}`)
	e.connectReplacing("new", ann, "old-ann")
	if got := cl.ids(); !slices.Equal(got, []string{"old-ann"}) {
		t.Errorf("closed %v, want [old-ann]", got)
	}
	if _, err := e.store.Connection(t.Context(), "old-ann"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("old connection after a 410: %v, want it removed", err)
	}
}

// TestReplacesIgnoredWithoutACloser: a $connect wired without an
// @connections client ignores the parameter.
func TestReplacesIgnoredWithoutACloser(t *testing.T) {
	e := newEnv(t, testConfig())
	ann := user("user-ann", "Ann")
	e.open("old-ann", ann)
	e.connectReplacing("new", ann, "old-ann")
	if _, err := e.store.Connection(t.Context(), "old-ann"); err != nil {
		t.Errorf("old connection: %v, want it untouched", err)
	}
}
