package connections_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
)

func TestDelete(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		errorType string
		wantErr   error // nil: success
	}{
		{"closed", http.StatusNoContent, "", nil},
		// Gone is reported, not hidden: the publish function cleans up after it,
		// and the chat handler treats it as closed.
		{"already gone", http.StatusGone, "GoneException", chat.ErrGone},
		{"throttled", http.StatusTooManyRequests, "LimitExceededException", chat.ErrThrottled},
		{"server error", http.StatusInternalServerError, "InternalServerErrorException", chat.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gateway{status: tt.status, errorType: tt.errorType}
			srv := httptest.NewServer(g)
			defer srv.Close()
			err := newClient(srv.URL).Delete(t.Context(), "TWegAcC4EowCHnA=")
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Delete = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "delete connection: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if len(g.got) != 1 || g.got[0].method != http.MethodDelete || g.got[0].path != "/dev/@connections/TWegAcC4EowCHnA%3D" ||
				!strings.HasPrefix(g.got[0].auth, "AWS4-HMAC-SHA256 ") {
				t.Errorf("requests = %+v, want one signed DELETE /dev/@connections/TWegAcC4EowCHnA%%3D", g.got)
			}
		})
	}
}
