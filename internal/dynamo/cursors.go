package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// Page cursors kept server-side: a client sees only a random reference
// (internal/handler makes it); the store's raw cursor, which names a
// connection id, stays in the item (pk CUR#<ref>, sk META), with the channel
// it pages and a short TTL.

func cursorKey(ref string) map[string]types.AttributeValue { return key("CUR#"+ref, "META") }

const attrCursor = "cursor"

// PutCursor stores raw, the store's cursor into channel, under ref until
// expires.
func (s *Store) PutCursor(ctx context.Context, ref, channel, raw string, expires time.Time) error {
	item := cursorKey(ref)
	item[attrChannel] = str(channel)
	item[attrCursor] = str(raw)
	item[attrTTL] = epoch(expires)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put cursor", err)
}

// Cursor returns the channel and raw cursor stored under ref;
// chat.ErrNotFound when there is none or it has expired.
func (s *Store) Cursor(ctx context.Context, ref string) (channel, raw string, err error) {
	item, err := s.getLive(ctx, "get cursor", cursorKey(ref))
	if err != nil {
		return "", "", err
	}
	channel, raw = strAttr(item, attrChannel), strAttr(item, attrCursor)
	if channel == "" {
		return "", "", fmt.Errorf("get cursor: %w", chat.ErrNotFound)
	}
	return channel, raw, nil
}
