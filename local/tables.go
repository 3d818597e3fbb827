package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/template"
)

// createTables creates the template's tables (on-demand billing) unless they
// exist. TTL is enabled where the endpoint supports it; dynalite does not, and
// never expires items, which is why readers skip expired items themselves.
func createTables(ctx context.Context, endpoint, region string, tables []*template.Table, out *lockedWriter) error {
	client := dynamodb.New(dynamodb.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, t := range tables {
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(t.Name),
			BillingMode: types.BillingModePayPerRequest,
			KeySchema:   keySchema(t.KeySchema),
		}
		for _, a := range t.Attributes {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
				AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType),
			})
		}
		for _, i := range t.GlobalIndex {
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
				IndexName: aws.String(i.IndexName), KeySchema: keySchema(i.KeySchema), Projection: projection(i),
			})
		}
		for _, i := range t.LocalIndex {
			in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
				IndexName: aws.String(i.IndexName), KeySchema: keySchema(i.KeySchema), Projection: projection(i),
			})
		}
		_, err := client.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(err, &inUse):
			out.printf("table %s exists", t.Name)
			continue
		case err != nil:
			return fmt.Errorf("create table %s (%s) at %s: %w", t.Name, t.LogicalID, endpoint, err)
		}
		if err := dynamo.WaitActive(ctx, client, t.Name); err != nil {
			return fmt.Errorf("create table %s (%s) at %s: %w", t.Name, t.LogicalID, endpoint, err)
		}
		out.printf("table %s created", t.Name)
		if t.TTLAttribute != "" {
			// Best effort: dynalite has no TTL operations.
			_, _ = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName: aws.String(t.Name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{
					AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true),
				},
			})
		}
	}
	return nil
}

func keySchema(ks []template.KeyElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	return out
}

func projection(i template.Index) *types.Projection {
	p := &types.Projection{ProjectionType: types.ProjectionType(i.ProjectionType)}
	if p.ProjectionType == "" {
		p.ProjectionType = types.ProjectionTypeAll
	}
	if len(i.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = i.NonKeyAttributes
	}
	return p
}
