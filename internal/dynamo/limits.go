package dynamo

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// userRateKey is the item of a user's shared rate limits (the user's bucket
// and its connections', tokens.go), beside the user's connection index in
// the user's partition.
func userRateKey(userID string) map[string]types.AttributeValue {
	return key(userPK(userID), "RATE")
}

// userRateTTL keeps an idle user's bucket item from living forever; a bucket
// idle that long is full again anyway.
const userRateTTL = time.Hour
