package dynamotest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
)

// Counting wraps a dynamo.API and counts what the store reads: calls per
// operation, items read (GetItem hits plus Query's ScannedCount), the
// partition keys read and those written to (attempted, even when a condition
// fails). It relies on the store naming a Query's partition-key value ":pk".
// With MeasureCapacity set it also asks each read for its consumed capacity
// (ReturnConsumedCapacity TOTAL, which dynalite computes as DynamoDB does:
// 4 KB units, halved for eventually consistent reads) and sums it as RCU.
// It is safe for concurrent use.
type Counting struct {
	API             dynamo.API
	MeasureCapacity bool

	mu        sync.Mutex
	calls     map[string]int
	itemsRead int
	rcu       float64
	readPKs   map[string]int
	writePKs  map[string]int
}

// Stats is a snapshot of a Counting.
type Stats struct {
	Calls     map[string]int // operation name → calls
	ItemsRead int
	RCU       float64        // read capacity consumed (only with MeasureCapacity)
	ReadPKs   map[string]int // partition key read (even a miss) → items read from it
	WritePKs  map[string]int // partition key → write calls on it
}

// Reset clears the counters.
func (c *Counting) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.itemsRead, c.rcu, c.readPKs, c.writePKs = nil, 0, 0, nil, nil
}

// Stats returns a copy of the counters.
func (c *Counting) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Calls: map[string]int{}, ItemsRead: c.itemsRead, RCU: c.rcu, ReadPKs: map[string]int{}, WritePKs: map[string]int{}}
	for k, v := range c.calls {
		s.Calls[k] = v
	}
	for k, v := range c.readPKs {
		s.ReadPKs[k] = v
	}
	for k, v := range c.writePKs {
		s.WritePKs[k] = v
	}
	return s
}

func (c *Counting) record(op string, pk types.AttributeValue, items int, cc *types.ConsumedCapacity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	if cc != nil && cc.CapacityUnits != nil {
		c.rcu += *cc.CapacityUnits
	}
	c.calls[op]++
	c.itemsRead += items
	if s, ok := pk.(*types.AttributeValueMemberS); ok {
		c.readPKs[s.Value] += items
	}
}

func (c *Counting) recordWrite(op string, pk types.AttributeValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.calls[op]++
	if s, ok := pk.(*types.AttributeValueMemberS); ok {
		c.writePKs[s.Value]++
	}
}

func (c *Counting) init() {
	if c.calls == nil {
		c.calls, c.readPKs, c.writePKs = map[string]int{}, map[string]int{}, map[string]int{}
	}
}

func (c *Counting) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if c.MeasureCapacity && in.ReturnConsumedCapacity == "" {
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	out, err := c.API.GetItem(ctx, in, optFns...)
	n := 0
	var cc *types.ConsumedCapacity
	if err == nil {
		if out.Item != nil {
			n = 1
		}
		cc = out.ConsumedCapacity
	}
	c.record("GetItem", in.Key[contract.TablePartitionKey], n, cc)
	return out, err
}

func (c *Counting) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if c.MeasureCapacity && in.ReturnConsumedCapacity == "" {
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	out, err := c.API.Query(ctx, in, optFns...)
	n := 0
	var cc *types.ConsumedCapacity
	if err == nil {
		n = int(out.ScannedCount)
		cc = out.ConsumedCapacity
	}
	c.record("Query", in.ExpressionAttributeValues[":pk"], n, cc)
	return out, err
}

func (c *Counting) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.recordWrite("PutItem", in.Item[contract.TablePartitionKey])
	return c.API.PutItem(ctx, in, optFns...)
}

func (c *Counting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.recordWrite("UpdateItem", in.Key[contract.TablePartitionKey])
	return c.API.UpdateItem(ctx, in, optFns...)
}

func (c *Counting) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.recordWrite("DeleteItem", in.Key[contract.TablePartitionKey])
	return c.API.DeleteItem(ctx, in, optFns...)
}

func (c *Counting) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if c.MeasureCapacity && in.ReturnConsumedCapacity == "" {
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	out, err := c.API.BatchGetItem(ctx, in, optFns...)
	n := 0
	var cc *types.ConsumedCapacity
	if err == nil {
		for _, items := range out.Responses {
			n += len(items)
		}
		if len(out.ConsumedCapacity) > 0 {
			cc = &out.ConsumedCapacity[0]
		}
	}
	var pk types.AttributeValue
	for _, ka := range in.RequestItems {
		if len(ka.Keys) > 0 {
			pk = ka.Keys[0][contract.TablePartitionKey]
		}
	}
	c.record("BatchGetItem", pk, n, cc)
	return out, err
}
