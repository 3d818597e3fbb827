package dynalite_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/dynalite"
)

func client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func createTable(ctx context.Context, t *testing.T, c *dynamodb.Client, name string) {
	t.Helper()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
}

func TestStartServesDynamoDBAndCloseStopsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("Endpoint() = %q, want http://127.0.0.1:PORT", s.Endpoint())
	}
	c := client(s.Endpoint())
	createTable(ctx, t, c, "table1")
	// createTableMs 0: the table turns ACTIVE on dynalite's next timer tick,
	// not the default 500 ms later.
	created := time.Now()
	for {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("table1")})
		if err != nil {
			t.Fatalf("DescribeTable: %v", err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			break
		}
		if time.Since(created) > 400*time.Millisecond {
			t.Fatalf("table status = %s %v after CreateTable, want ACTIVE sooner than dynalite's default 500ms", out.Table.TableStatus, time.Since(created))
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	hc := &http.Client{Timeout: time.Second}
	if resp, err := hc.Get(s.Endpoint()); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s after Close succeeded, want connection refused", s.Endpoint())
	}
}

func TestStartMissingBinaryHintsNpmCi(t *testing.T) {
	_, err := dynalite.Start(t.Context(), dynalite.Options{Bin: filepath.Join(t.TempDir(), "nope")})
	if err == nil {
		t.Fatal("Start with a missing binary: got nil error")
	}
	if !strings.Contains(err.Error(), "npm ci") {
		t.Errorf("Start error = %q, want a hint to run npm ci", err)
	}
}

func TestDataDirPersistsAcrossRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")

	s, err := dynalite.Start(ctx, dynalite.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	createTable(ctx, t, client(s.Endpoint()), "kept")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2, err := dynalite.Start(ctx, dynalite.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s2.Close()
	out, err := client(s2.Endpoint()).ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if len(out.TableNames) != 1 || out.TableNames[0] != "kept" {
		t.Errorf("tables after restart = %v, want [kept]", out.TableNames)
	}
}
