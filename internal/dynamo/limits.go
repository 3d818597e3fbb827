package dynamo

import (
	"context"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// userRateKey is the item of a user's shared rate limit, beside the user's
// connection index in the user's partition.
func userRateKey(userID string) map[string]types.AttributeValue {
	return key(userPK(userID), "RATE")
}

// userRateTTL keeps an idle user's bucket item from living forever; a bucket
// idle that long is full again anyway.
const userRateTTL = time.Hour

// TakeUserToken spends one token of the user's rate limit, shared by every
// connection of the user on every Lambda instance: the same GCRA as
// TakeToken, on an item of its own that the first request creates. It
// reports false when the user is over the rate.
func (s *Store) TakeUserToken(ctx context.Context, userID string, perSecond float64, burst int) (bool, error) {
	if perSecond <= 0 || burst <= 0 {
		return true, nil
	}
	interval := int64(math.Ceil(1e6 / perSecond))
	now := s.now()
	nowUS := now.UnixMicro()
	names := map[string]string{"#tat": attrRateTAT, "#ttl": attrTTL}
	ttl := epoch(now.Add(userRateTTL))

	// An absent or idle bucket: start it full, minus this token.
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      userRateKey(userID),
		UpdateExpression:         aws.String("SET #tat = :next, #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(#tat) OR #tat < :now"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(nowUS), ":next": num(nowUS + interval), ":ttl": ttl,
		},
	})
	if err = translate("take user token", err); !isConflict(err) {
		return err == nil, err
	}
	// A busy bucket: advance it unless that exceeds the burst.
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      userRateKey(userID),
		UpdateExpression:         aws.String("SET #tat = #tat + :i, #ttl = :ttl"),
		ConditionExpression:      aws.String("#tat >= :now AND #tat <= :limit"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(nowUS), ":i": num(interval), ":ttl": ttl,
			":limit": num(nowUS + int64(burst-1)*interval),
		},
	})
	if err = translate("take user token", err); isConflict(err) {
		return false, nil
	}
	return err == nil, err
}
