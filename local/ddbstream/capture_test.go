package ddbstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/local/ddbstream"
)

var dynaliteURL string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s, err := dynalite.Start(ctx, dynalite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddbstream:", err)
		os.Exit(1)
	}
	dynaliteURL = s.Endpoint()
	code := m.Run()
	_ = s.Close()
	os.Exit(code)
}

// env is a table behind a capture: the minimal forwarder a test needs (a
// reverse proxy to dynalite's guard that signs each request again, since
// the capture rewrites some and makes its own) wrapped by Capture, and SDK
// clients through it and around it. TestInsideDynalitesGuard runs the
// capture where the emulator does.
type env struct {
	db, direct *dynamodb.Client
	table      string
	stream     *ddbstream.Stream
}

var tables int

func newEnv(t *testing.T, view string) env {
	t.Helper()
	tables++
	name := fmt.Sprintf("capture-%d", tables)
	u, _ := url.Parse(dynaliteURL)
	capture, err := ddbstream.NewCapture([]ddbstream.Table{{
		Name: name, HashKey: "pk", RangeKey: "sk", ViewType: view,
		StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/" + name + "/stream/1970-01-01T00:00:00.000", Region: "us-east-1",
	}}, ddbstream.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = u.Host }, Transport: resign{}}
	srv := &http.Server{Handler: capture.Wrap(proxy), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	e := env{db: client("http://" + ln.Addr().String()), direct: client(dynaliteURL), table: name, stream: capture.Stream(name)}
	_, err = e.direct.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}, {AttributeName: aws.String("sk"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: "HASH"}, {AttributeName: aws.String("sk"), KeyType: "RANGE"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, err := e.direct.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return e
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resign signs each request again with the local credentials.
type resign struct{}

func (resign) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := sigv4.Sign(r, body, sigv4.Local, "dynamodb", sigv4.RegionOf(r)); err != nil {
		return nil, err
	}
	return http.DefaultTransport.RoundTrip(r)
}

func client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

// image decodes a record's image attribute as a plain string or number.
func attr(im map[string]json.RawMessage, name string) string {
	var v map[string]any
	_ = json.Unmarshal(im[name], &v)
	for _, x := range v {
		return fmt.Sprint(x)
	}
	return ""
}

// TestCaptureRecordsWhatDynamoDBStreamsWould runs each kind of write through
// the capture and checks the records (and that the SDK gets the answers it
// asked for, checksums included).
func TestCaptureRecordsWhatDynamoDBStreamsWould(t *testing.T) {
	e := newEnv(t, ddbstream.ViewNewAndOldImages)
	ctx := t.Context()
	item := func(pk, sk, v string) map[string]types.AttributeValue {
		it := key(pk, sk)
		it["v"] = s(v)
		return it
	}
	steps := []struct {
		name string
		do   func() error
		want string // eventName, "" for no record
	}{
		{"put a new item", func() error {
			out, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: item("a", "1", "x")})
			if err == nil && out.Attributes != nil {
				err = fmt.Errorf("attributes %v returned without ReturnValues", out.Attributes)
			}
			return err
		}, "INSERT"},
		{"put the same item again", func() error {
			_, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: item("a", "1", "x")})
			return err
		}, ""},
		{"put a changed item asking for the old one", func() error {
			out, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: item("a", "1", "y"), ReturnValues: types.ReturnValueAllOld})
			if err == nil && out.Attributes["v"].(*types.AttributeValueMemberS).Value != "x" {
				err = fmt.Errorf("old attributes %v", out.Attributes)
			}
			return err
		}, "MODIFY"},
		{"conditional put that fails", func() error {
			_, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: item("a", "1", "z"), ConditionExpression: aws.String("attribute_not_exists(pk)")})
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				return fmt.Errorf("want ConditionalCheckFailed, got %v", err)
			}
			return nil
		}, ""},
		{"counter ADD asking for the updated value", func() error {
			out, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &e.table, Key: key("c", "n"),
				UpdateExpression: aws.String("ADD #n :one SET #at = :at"), ExpressionAttributeNames: map[string]string{"#n": "n", "#at": "at"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1"), ":at": n("5")}, ReturnValues: types.ReturnValueUpdatedNew})
			if err == nil && (len(out.Attributes) != 2 || out.Attributes["n"].(*types.AttributeValueMemberN).Value != "1") {
				err = fmt.Errorf("updated attributes %v", out.Attributes)
			}
			return err
		}, "INSERT"},
		{"update without ReturnValues", func() error {
			out, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &e.table, Key: key("c", "n"),
				UpdateExpression: aws.String("ADD #n :one"), ExpressionAttributeNames: map[string]string{"#n": "n"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
			if err == nil && out.Attributes != nil {
				err = fmt.Errorf("attributes %v returned without ReturnValues", out.Attributes)
			}
			return err
		}, "MODIFY"},
		{"update that sets what is there", func() error {
			_, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &e.table, Key: key("c", "n"),
				UpdateExpression: aws.String("SET #at = :at"), ExpressionAttributeNames: map[string]string{"#at": "at"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":at": n("5.0")}, ReturnValues: types.ReturnValueAllOld})
			return err
		}, ""},
		{"delete an absent item", func() error {
			_, err := e.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &e.table, Key: key("nope", "1")})
			return err
		}, ""},
		{"delete an item", func() error {
			out, err := e.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &e.table, Key: key("a", "1")})
			if err == nil && out.Attributes != nil {
				err = fmt.Errorf("attributes %v returned without ReturnValues", out.Attributes)
			}
			return err
		}, "REMOVE"},
	}
	for _, st := range steps {
		before := e.stream.Len()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		recs := e.stream.Records()[before:]
		switch {
		case st.want == "" && len(recs) != 0:
			t.Errorf("%s: %d records (%s), want none", st.name, len(recs), recs[0].EventName)
		case st.want != "" && (len(recs) != 1 || recs[0].EventName != st.want):
			t.Errorf("%s: records %+v, want one %s", st.name, recs, st.want)
		}
	}
	recs := e.stream.Records()
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	mod := recs[1]
	if attr(mod.Change.OldImage, "v") != "x" || attr(mod.Change.NewImage, "v") != "y" || attr(mod.Change.Keys, "pk") != "a" || len(mod.Change.Keys) != 2 {
		t.Errorf("MODIFY record %+v", mod.Change)
	}
	add := recs[3]
	if attr(add.Change.OldImage, "n") != "1" || attr(add.Change.NewImage, "n") != "2" {
		t.Errorf("counter MODIFY %+v", add.Change)
	}
	del := recs[4]
	if del.Change.NewImage != nil || attr(del.Change.OldImage, "v") != "y" {
		t.Errorf("REMOVE record %+v", del.Change)
	}
	for i, r := range recs {
		if r.EventSource != "aws:dynamodb" || r.EventVersion != "1.1" || r.AWSRegion != "us-east-1" || r.EventSourceARN == "" ||
			r.Change.StreamViewType != ddbstream.ViewNewAndOldImages || r.Change.SizeBytes <= 0 || r.Change.ApproximateCreationDateTime == 0 || len(r.EventID) != 32 {
			t.Errorf("record %d: %+v", i, r)
		}
		if i > 0 && r.Change.SequenceNumber <= recs[i-1].Change.SequenceNumber {
			t.Errorf("record %d: sequence number %s after %s", i, r.Change.SequenceNumber, recs[i-1].Change.SequenceNumber)
		}
	}
}

func TestBatchWriteAndViewTypes(t *testing.T) {
	e := newEnv(t, ddbstream.ViewKeysOnly)
	ctx := t.Context()
	var reqs []types.WriteRequest
	for i := range 5 {
		it := key("b", fmt.Sprint(i))
		it["v"] = s("x")
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	out, err := e.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{e.table: reqs}})
	if err != nil || len(out.UnprocessedItems) != 0 {
		t.Fatalf("BatchWriteItem: %v, unprocessed %v", err, out)
	}
	_, err = e.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		e.table: {{DeleteRequest: &types.DeleteRequest{Key: key("b", "0")}}, {DeleteRequest: &types.DeleteRequest{Key: key("b", "nope")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	recs := e.stream.Records()
	if len(recs) != 6 || recs[5].EventName != "REMOVE" {
		t.Fatalf("records %+v, want 5 INSERT and 1 REMOVE", recs)
	}
	for _, r := range recs {
		if r.Change.NewImage != nil || r.Change.OldImage != nil || len(r.Change.Keys) != 2 {
			t.Errorf("KEYS_ONLY record with images: %+v", r.Change)
		}
	}
	got, err := e.direct.Query(ctx, &dynamodb.QueryInput{TableName: &e.table, KeyConditionExpression: aws.String("pk = :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": s("b")}})
	if err != nil || len(got.Items) != 4 {
		t.Errorf("items after the batches: %v, %v; want 4", got, err)
	}
}

// TestConcurrentWritesToOneKeyAreRecordedInOrder: 40 writers add to one
// counter at once (no ReturnValues, so the capture reads before each
// write); the records chain 0→1→…→40 with each old image the previous new
// one, which is what the per-key lock guarantees.
func TestConcurrentWritesToOneKeyAreRecordedInOrder(t *testing.T) {
	e := newEnv(t, ddbstream.ViewNewAndOldImages)
	const writers = 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			_, err := e.db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: &e.table, Key: key("c", "members"),
				UpdateExpression: aws.String("ADD #m :one"), ExpressionAttributeNames: map[string]string{"#m": "members"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := e.stream.Records()
	if len(recs) != writers {
		t.Fatalf("%d records, want %d", len(recs), writers)
	}
	prev := ""
	for i, r := range recs {
		old, cur := attr(r.Change.OldImage, "members"), attr(r.Change.NewImage, "members")
		if old != prev || cur != fmt.Sprint(i+1) {
			t.Fatalf("record %d: %s → %s, want %q → %d", i, old, cur, prev, i+1)
		}
		prev = cur
	}
}

func TestReadsAndOtherTablesPassThrough(t *testing.T) {
	e := newEnv(t, ddbstream.ViewNewAndOldImages)
	other := newEnv(t, ddbstream.ViewNewAndOldImages) // its own capture: not e's
	ctx := t.Context()
	if _, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &other.table, Item: key("x", "1")}); err != nil {
		t.Fatal(err)
	}
	if e.stream.Len() != 0 || other.stream.Len() != 0 {
		t.Errorf("a write to a table the capture does not know was recorded")
	}
	got, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &other.table, Key: key("x", "1")})
	if err != nil || got.Item == nil {
		t.Errorf("GetItem through the capture: %v, %v", got, err)
	}
	if _, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: map[string]types.AttributeValue{"pk": s("only-hash")}}); err == nil {
		t.Error("an item without its sort key was accepted")
	}
	if e.stream.Len() != 0 {
		t.Error("a refused write was recorded")
	}
}

func TestNewCaptureRefusesBadTables(t *testing.T) {
	for _, tt := range [][]ddbstream.Table{
		{{Name: "", HashKey: "pk", ViewType: ddbstream.ViewKeysOnly}},
		{{Name: "t", ViewType: ddbstream.ViewKeysOnly}},
		{{Name: "t", HashKey: "pk", ViewType: "ALL"}},
		{{Name: "t", HashKey: "pk", ViewType: ddbstream.ViewKeysOnly}, {Name: "t", HashKey: "pk", ViewType: ddbstream.ViewKeysOnly}},
	} {
		if _, err := ddbstream.NewCapture(tt, ddbstream.CaptureOptions{}); err == nil {
			t.Errorf("NewCapture(%+v) accepted", tt)
		}
	}
}

// TestInsideDynalitesGuard runs the capture where the emulator runs it:
// dynalite.Options.Wrap, between the guard and dynalite's socket. Signed
// writes are recorded; a request the guard refuses never reaches it.
func TestInsideDynalitesGuard(t *testing.T) {
	name := "guarded"
	capture, err := ddbstream.NewCapture([]ddbstream.Table{{
		Name: name, HashKey: "pk", RangeKey: "sk", ViewType: ddbstream.ViewNewAndOldImages,
		StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/" + name + "/stream/1970-01-01T00:00:00.000", Region: "us-east-1",
	}}, ddbstream.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dynalite.Start(t.Context(), dynalite.Options{Wrap: capture.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	db := client(srv.Endpoint())
	ctx := t.Context()
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}, {AttributeName: aws.String("sk"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: "HASH"}, {AttributeName: aws.String("sk"), KeyType: "RANGE"}},
	}); err != nil {
		t.Fatal(err)
	}
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	item := key("a", "1")
	item["v"] = s("one")
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
		t.Fatal(err)
	}
	forged := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "not-the-secret", ""),
	})
	if _, err := forged.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: key("b", "1")}); err == nil {
		t.Fatal("a request signed with the wrong secret was accepted")
	}
	recs := capture.Stream(name).Records()
	if len(recs) != 1 || recs[0].EventName != "INSERT" || attr(recs[0].Change.NewImage, "v") != "one" {
		t.Fatalf("records %+v, want the one signed INSERT", recs)
	}
}
