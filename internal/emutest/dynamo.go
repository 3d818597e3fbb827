package emutest

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/contract"
)

// scan visits every item of table. Only test tooling scans: the service
// itself never does.
func scan(ctx context.Context, db *dynamodb.Client, table string, visit func(map[string]types.AttributeValue)) error {
	var start map[string]types.AttributeValue
	for page := 0; page < 100_000; page++ {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		for _, it := range out.Items {
			visit(it)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
	return fmt.Errorf("scan %s: too many pages", table)
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// ConnectionIDs maps each user id to the ids of its stored connections.
func ConnectionIDs(ctx context.Context, db *dynamodb.Client, table string) (map[string][]string, error) {
	out := map[string][]string{}
	err := scan(ctx, db, table, func(it map[string]types.AttributeValue) {
		pk := str(it, contract.TablePartitionKey)
		if id, ok := strings.CutPrefix(pk, "CONN#"); ok && str(it, contract.TableSortKey) == "META" {
			user := str(it, "userId")
			out[user] = append(out[user], id)
		}
	})
	return out, err
}

// ItemsOf counts the items that belong to connection id: its connection
// item and its memberships.
func ItemsOf(ctx context.Context, db *dynamodb.Client, table, id string) (int, error) {
	n := 0
	err := scan(ctx, db, table, func(it map[string]types.AttributeValue) {
		if str(it, contract.TablePartitionKey) == "CONN#"+id || str(it, contract.TableSortKey) == "CONN#"+id {
			n++
		}
	})
	return n, err
}

// ItemCount counts the items of table.
func ItemCount(ctx context.Context, db *dynamodb.Client, table string) (int, error) {
	total := 0
	var start map[string]types.AttributeValue
	for page := 0; page < 100_000; page++ {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount, ExclusiveStartKey: start})
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", table, err)
		}
		total += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return total, nil
		}
		start = out.LastEvaluatedKey
	}
	return 0, fmt.Errorf("count %s: too many pages", table)
}
