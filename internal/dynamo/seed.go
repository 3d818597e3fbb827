package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SeedFanoutMembers makes connIDs broadcast recipients of a channel nobody
// joined yet, in bulk: the keys-only fan-out items only (BatchWriteItem, 25
// at a time), placed under the shard count the channel would have grown to,
// and that count and the member count on the channel's item. It is for
// benchmarks and imports of channels too big to fill through joins (the
// emulator's virtual connections): the seeded members get broadcasts, but
// have no roster item (members does not list them), no recent join and no
// connection item, and joins must not run on the channel at the same time.
func (s *Store) SeedFanoutMembers(ctx context.Context, channel string, connIDs []string) error {
	shards := 1
	for len(connIDs) > shards*s.shardSize && shards < s.maxShards {
		shards *= 2
	}
	for start := 0; start < len(connIDs); start += 25 {
		batch := connIDs[start:min(start+25, len(connIDs))]
		reqs := make([]types.WriteRequest, len(batch))
		for i, id := range batch {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: fanoutKey(channel, shardOf(id, shards), id)}}
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("seed %s: %w", channel, err)
		}
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      metaKey(channel),
		UpdateExpression:         aws.String("ADD #m :n SET #s = :s"),
		ConditionExpression:      aws.String("attribute_not_exists(#s) OR #s <= :s"),
		ExpressionAttributeNames: map[string]string{"#m": attrMembers, "#s": attrShards},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(int64(len(connIDs))), ":s": num(int64(shards)),
		},
	})
	return translate("seed "+channel+": count", err)
}

// batchWriter is the part of the DynamoDB client that bulk writes; a
// Store's API without it seeds with one PutItem per item.
type batchWriter interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// batchWrite writes reqs (at most 25), again for what DynamoDB left
// unprocessed, a bounded number of times.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	bw, ok := s.db.(batchWriter)
	if !ok {
		for _, r := range reqs {
			if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: r.PutRequest.Item}); err != nil {
				return translate("put", err)
			}
		}
		return nil
	}
	for range 10 {
		out, err := bw.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: reqs},
		})
		if err != nil {
			return translate("batch write", err)
		}
		if reqs = out.UnprocessedItems[s.table]; len(reqs) == 0 {
			return nil
		}
	}
	return fmt.Errorf("batch write: %d items still unprocessed", len(reqs))
}
