package handler

import (
	"fmt"
	"unicode/utf8"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
)

// Bounds on the identity the authorizer passes: a user id becomes part of
// storage keys, a name part of every presence event.
const (
	maxUserIDBytes   = 256
	maxUserNameRunes = 64
)

// AnonymousPrefix starts the user id of a connection without an authorizer
// context: "anon-<connectionId>".
const AnonymousPrefix = "anon-"

// IdentityFromAuthorizer reads the user from requestContext.authorizer, which
// on a WebSocket API is the $connect authorizer's context (principalId plus
// contract.AuthContextUserID and AuthContextUserName) decoded as a
// map[string]interface{}. A missing context, or one of an unexpected shape,
// yields an anonymous identity; an unusable user id is an error.
func IdentityFromAuthorizer(authorizer any, connectionID string) (chat.Identity, error) {
	var userID, userName, principal string
	switch a := authorizer.(type) {
	case map[string]any:
		userID, _ = a[contract.AuthContextUserID].(string)
		userName, _ = a[contract.AuthContextUserName].(string)
		principal, _ = a["principalId"].(string)
	case map[string]string:
		userID, userName, principal = a[contract.AuthContextUserID], a[contract.AuthContextUserName], a["principalId"]
	}
	if userID == "" {
		userID = principal
	}
	if userID == "" {
		userID = AnonymousPrefix + connectionID
		if userName == "" {
			userName = "anonymous"
		}
	}
	if len(userID) > maxUserIDBytes || !utf8.ValidString(userID) {
		return chat.Identity{}, fmt.Errorf("authorizer user id: %d bytes, want at most %d of UTF-8", len(userID), maxUserIDBytes)
	}
	userName = cleanName(userName)
	if userName == "" {
		userName = userID
	}
	if utf8.RuneCountInString(userName) > maxUserNameRunes {
		userName = string([]rune(userName)[:maxUserNameRunes])
	}
	return chat.Identity{UserID: userID, UserName: userName}, nil
}
