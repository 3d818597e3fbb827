// Package dynamotest gives a test binary one dynalite process and a fresh
// table per test, for the integration tests of the store and the handlers.
//
//	func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		db, table := dynamotest.NewTable(t)
//		...
//	}
//
// dynalite comes from `npm ci`; when it cannot start, Main fails the whole
// binary instead of skipping, so CI cannot pass without the integration tests.
package dynamotest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/dynamo"
)

var (
	server *dynalite.Server
	tables atomic.Int64
)

// Main starts dynalite, runs the tests and stops it; it returns the exit code.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s, err := dynalite.Start(ctx, dynalite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
		return 1
	}
	server = s
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
	}
	return code
}

// Client returns a DynamoDB client for endpoint with dummy credentials and a
// connection pool sized for concurrent fan-out.
func Client(endpoint string) *dynamodb.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
	})
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:   hc,
	})
}

// Endpoint is the running dynalite's URL.
func Endpoint() string { return server.Endpoint() }

// NewTable creates a table with the store's schema, unique to this test, and
// returns a client and the table's name.
func NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	if server == nil {
		t.Fatal("dynamotest: call dynamotest.Main from TestMain")
	}
	db := Client(server.Endpoint())
	name := fmt.Sprintf("wschat-test-%d", tables.Add(1))
	if err := dynamo.CreateTable(t.Context(), db, name); err != nil {
		t.Fatal(err)
	}
	return db, name
}
