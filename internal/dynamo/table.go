package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/contract"
)

// TableCreator is the DynamoDB calls CreateTable makes.
type TableCreator interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// activeTimeout bounds the wait for a new table to become ACTIVE (dynalite
// started with --createTableMs 0 takes a few milliseconds).
const activeTimeout = 30 * time.Second

// CreateTable creates a table with the store's key schema (pk S, sk S,
// on-demand). Tests and local tools use it; deployed tables come from the
// stack, which declares the same schema from the same contract names. It
// returns once the table is ACTIVE.
func CreateTable(ctx context.Context, db TableCreator, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(contract.TablePartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(contract.TableSortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(contract.TablePartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(contract.TableSortKey), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return WaitActive(ctx, db, name)
}

// TableDescriber is the DynamoDB call WaitActive makes.
type TableDescriber interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// WaitActive returns once table name is ACTIVE. A new table is CREATING for
// a moment even on dynalite, and calls meanwhile fail with ResourceNotFound.
func WaitActive(ctx context.Context, db TableDescriber, name string) error {
	ctx, cancel := context.WithTimeout(ctx, activeTimeout)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("table %s: not ACTIVE: %w", name, ctx.Err())
		case <-time.After(delay):
		}
	}
}
