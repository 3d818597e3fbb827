package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// The user → connections index: one item per live connection of a user,
// pk USER#<userId> / sk CONN#<connectionId>, so every connection of a user
// (all tabs and devices) is one Query on one partition, never a Scan. The
// $connect handler writes it after the connection item; $disconnect and the
// fan-out's 410 cleanup delete it through RemoveConnection. It carries the
// connection's TTL, so an entry whose $disconnect never ran expires with it
// (and readers skip it before DynamoDB deletes it).

func userPK(userID string) string { return "USER#" + userID }

func userConnKey(userID, connID string) map[string]types.AttributeValue {
	return key(userPK(userID), "CONN#"+connID)
}

// userConnPageSize bounds one Query page of a user's connections; a user
// with more live connections than this is read in several pages.
const userConnPageSize = 100

// maxUserConnPages bounds the pages ConnectionsOfUser reads, so a
// pathological user cannot hold an invocation.
const maxUserConnPages = 20

// PutUserConnection indexes c under its user. Unconditional: a connection
// id is never reused, so a repeated write is identical.
func (s *Store) PutUserConnection(ctx context.Context, c chat.Connection) error {
	if c.UserID == "" {
		return fmt.Errorf("put user connection %s: empty user id", c.ID)
	}
	item := userConnKey(c.UserID, c.ID)
	item[attrConnID] = str(c.ID)
	item[attrUserID] = str(c.UserID)
	item[attrUserName] = str(c.UserName)
	item[attrConnectedAt] = millis(c.ConnectedAt)
	item[attrTTL] = epoch(c.ExpiresAt)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put user connection", err)
}

// RemoveUserConnection deletes one index entry. Idempotent.
func (s *Store) RemoveUserConnection(ctx context.Context, userID, connID string) error {
	if userID == "" {
		return nil // connections written before the index had no user to index
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: userConnKey(userID, connID)})
	return translate("remove user connection", err)
}

// ConnectionsOfUser returns the live connections of userID (id, identity,
// connectedAt, expiry; Channels is not indexed), read with a strongly
// consistent Query on the user's partition. Expired entries are skipped.
func (s *Store) ConnectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error) {
	var (
		out   []chat.Connection
		start map[string]types.AttributeValue
	)
	for page := 0; page < maxUserConnPages; page++ {
		res, err := s.db.Query(ctx, s.userConnQuery(userID, start, types.SelectAllAttributes))
		if err != nil {
			return nil, translate("connections of user", err)
		}
		for _, item := range res.Items {
			if !s.expired(item) {
				out = append(out, decodeConnection(strAttr(item, attrConnID), item))
			}
		}
		if start = res.LastEvaluatedKey; start == nil {
			return out, nil
		}
	}
	return out, fmt.Errorf("connections of user: more than %d pages: %w", maxUserConnPages, chat.ErrLimit)
}

// CountConnectionsOfUser counts the live connections of userID with a
// Query of Select COUNT (expired entries are filtered out server side, so
// the count matches ConnectionsOfUser), for a per-user connection cap.
func (s *Store) CountConnectionsOfUser(ctx context.Context, userID string) (int, error) {
	var (
		n     int
		start map[string]types.AttributeValue
	)
	for page := 0; page < maxUserConnPages; page++ {
		in := s.userConnQuery(userID, start, types.SelectCount)
		in.FilterExpression = aws.String("#ttl > :now")
		in.ExpressionAttributeNames["#ttl"] = attrTTL
		in.ExpressionAttributeValues[":now"] = num(s.now().Unix())
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, translate("count connections of user", err)
		}
		n += int(res.Count)
		if start = res.LastEvaluatedKey; start == nil {
			return n, nil
		}
	}
	return n, errors.New("count connections of user: too many pages")
}

func (s *Store) userConnQuery(userID string, start map[string]types.AttributeValue, sel types.Select) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName: &s.table,
		// Only the CONN# entries: the user's partition also holds its rate
		// bucket (limits.go), which is not a connection.
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :conn)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(userPK(userID)), ":conn": str("CONN#")},
		Limit:                     aws.Int32(int32(min(userConnPageSize, math.MaxInt32))),
		Select:                    sel,
		ExclusiveStartKey:         start,
		// A connection that connected a moment ago must get the next notice.
		ConsistentRead: aws.Bool(true),
	}
}
