package handler

import (
	"context"
	"time"

	"github.com/wschat/wschat/internal/chat"
)

// The lifecycle's methods of fakeStore (route_test.go).

func (f *fakeStore) GetMessage(context.Context, string, int64) (chat.Message, error) {
	return chat.Message{}, f.call("GetMessage")
}
func (f *fakeStore) ItemStatus(context.Context, string, int64) (chat.Status, error) {
	return "", f.call("ItemStatus")
}
func (f *fakeStore) PutChange(context.Context, chat.Change) error { return f.call("PutChange") }
func (f *fakeStore) WriteState(_ context.Context, _ string, _, next chat.Message, _ int64) (chat.Message, error) {
	return next, f.call("WriteState")
}
func (f *fakeStore) MarkApplied(context.Context, string, int64) error { return f.call("MarkApplied") }
func (f *fakeStore) Void(context.Context, string, int64) error        { return f.call("Void") }
func (f *fakeStore) PutThreadEntry(context.Context, string, int64, int64, time.Time) error {
	return f.call("PutThreadEntry")
}
func (f *fakeStore) FindClaim(context.Context, chat.ClaimKey) (chat.Claim, error) {
	return chat.Claim{}, f.call("FindClaim")
}
func (f *fakeStore) TouchUserChannel(context.Context, string, string) (int64, error) {
	return 0, f.call("TouchUserChannel")
}
func (f *fakeStore) RemoveUserChannel(context.Context, string, string) error {
	return f.call("RemoveUserChannel")
}
func (f *fakeStore) ThreadHistory(context.Context, string, chat.Message, int64, int) ([]chat.Message, bool, int64, error) {
	return nil, false, 0, f.call("ThreadHistory")
}
func (f *fakeStore) MarkRead(context.Context, string, string, int64) (int64, bool, error) {
	return 0, false, f.call("MarkRead")
}
func (f *fakeStore) ConnectionsOfUser(context.Context, string) ([]chat.Connection, error) {
	return nil, f.call("ConnectionsOfUser")
}
func (f *fakeStore) UserChannels(context.Context, string) ([]chat.UserChannel, error) {
	return nil, f.call("UserChannels")
}
func (f *fakeStore) ListedChannels(context.Context, string) ([]chat.ListedChannel, error) {
	return nil, f.call("ListedChannels")
}
func (f *fakeStore) ChannelSummary(context.Context, string, string, int64, int) (chat.ChannelSummary, error) {
	return chat.ChannelSummary{}, f.call("ChannelSummary")
}
