package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// A notice's record, NOTE#<userId> / <ms, 13 digits>#<id>: a backend's
// notice to a user is not stored for the user (a notice reaches live
// connections only), so this item exists for integrations alone. Its write
// is what the table's stream turns into a user.notified event, with the
// same at-least-once delivery as every stored change; it expires after a
// day (nothing reads it).

const (
	attrNoticeID    = "noticeId"
	attrFromName    = "fromName"
	attrConnections = "connections"
	attrDeliveredTo = "deliveredTo"
	attrAt          = "at"
)

// PutNotice records a notice sent to n.UserID's connections.
func (s *Store) PutNotice(ctx context.Context, n chat.NoticeSent) error {
	if n.UserID == "" {
		return fmt.Errorf("put notice: empty user id")
	}
	suffix := n.ID
	if suffix == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		suffix = "~" + hex.EncodeToString(b[:]) // '~' cannot start a backend's id
	}
	item := key("NOTE#"+n.UserID, fmt.Sprintf("%013d#%s", n.At.UnixMilli(), suffix))
	item[attrUserID] = str(n.UserID)
	if n.ID != "" {
		item[attrNoticeID] = str(n.ID)
	}
	item[attrFromName] = str(n.FromName)
	item[attrText] = str(n.Text)
	item[attrConnections] = num(int64(n.Connections))
	item[attrDeliveredTo] = num(int64(n.Delivered))
	item[attrAt] = millis(n.At)
	item[attrTTL] = epoch(n.ExpiresAt)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put notice", err)
}

func decodeNotice(item map[string]types.AttributeValue) chat.NoticeSent {
	conns, _ := numAttr(item, attrConnections)
	delivered, _ := numAttr(item, attrDeliveredTo)
	return chat.NoticeSent{
		UserID:      strAttr(item, attrUserID),
		ID:          strAttr(item, attrNoticeID),
		FromName:    strAttr(item, attrFromName),
		Text:        strAttr(item, attrText),
		Connections: int(conns),
		Delivered:   int(delivered),
		At:          timeMillis(item, attrAt),
		ExpiresAt:   timeEpoch(item, attrTTL),
	}
}
