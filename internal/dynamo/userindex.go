package dynamo

import (
	"context"
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wschat/internal/chat"
)

// The user index: one item per live connection of a user, in the user's own
// partition (pk USER#<userId>, sk CONN#<connectionId>), with the
// connection's TTL. It lets the per-user connection cap count a user's
// connections with one Query instead of a Scan.

func userPK(userID string) string { return "USER#" + userID }

// maxUserIndexPages bounds ConnectionsOfUser: a user over the cap is refused
// long before a partition of 1 MB pages is read.
const maxUserIndexPages = 10

// PutUserConnection records c in its user's index (PutItem, unconditional:
// connection ids are never reused).
func (s *Store) PutUserConnection(ctx context.Context, c chat.Connection) error {
	item := key(userPK(c.UserID), "CONN#"+c.ID)
	item[attrConnID] = str(c.ID)
	item[attrConnectedAt] = millis(c.ConnectedAt)
	item[attrTTL] = epoch(c.ExpiresAt)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put user connection", err)
}

// RemoveUserConnection deletes connID from userID's index. Idempotent.
func (s *Store) RemoveUserConnection(ctx context.Context, userID, connID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(userPK(userID), "CONN#"+connID)})
	return translate("remove user connection", err)
}

// ConnectionsOfUser returns the ids of userID's live connections (expired
// index items skipped), by Query on the user's partition, strongly
// consistent so that a connection registered a moment ago counts.
func (s *Store) ConnectionsOfUser(ctx context.Context, userID string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :conn)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(userPK(userID)), ":conn": str("CONN#")},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(math.MaxInt16),
	}
	var ids []string
	for page := 0; page < maxUserIndexPages; page++ {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, translate("connections of user", err)
		}
		for _, item := range out.Items {
			if !s.expired(item) {
				ids = append(ids, strings.TrimPrefix(strAttr(item, attrSK), "CONN#"))
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return ids, nil
}
