package handler

import (
	"fmt"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire"
)

// AnonymousPrefix starts the user id of a connection without an authorizer
// context: "anon-<connectionId>".
const AnonymousPrefix = "anon-"

// IdentityFromAuthorizer reads the user from requestContext.authorizer, which
// on a WebSocket API is the $connect authorizer's context (principalId plus
// contract.AuthContextUserID and AuthContextUserName) decoded as a
// map[string]interface{}. A missing context, or one of an unexpected shape,
// yields an anonymous identity; a user id that breaks the one rule for
// user ids (wire.CheckUserID) is an error. The name is cleaned again
// (chat.CleanDisplayName), whatever the authorizer did.
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
	} else if err := wire.CheckUserID(userID); err != nil {
		return chat.Identity{}, fmt.Errorf("authorizer identity: %w", err)
	}
	userName = chat.CleanDisplayName(userName)
	if userName == "" {
		userName = chat.CleanDisplayName(userID)
	}
	return chat.Identity{UserID: userID, UserName: userName}, nil
}
