package dynamo

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
)

// failingAPI answers every call with err.
type failingAPI struct{ err error }

func (f failingAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f.err
}
func (f failingAPI) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, f.err
}

func TestSDKErrorsBecomeDomainErrors(t *testing.T) {
	plain := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"conditional check", &types.ConditionalCheckFailedException{}, chat.ErrConflict},
		{"throughput", &types.ProvisionedThroughputExceededException{}, chat.ErrUnavailable},
		{"request limit", &types.RequestLimitExceeded{}, chat.ErrUnavailable},
		{"internal", &types.InternalServerError{}, chat.ErrUnavailable},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, chat.ErrUnavailable},
		{"server fault", &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}, chat.ErrUnavailable},
		{"other", plain, plain},
	}
	for _, tt := range tests {
		s := New(failingAPI{err: tt.err}, "t", Options{})
		err := s.PutMessage(t.Context(), chat.Message{Channel: "a", Seq: 1})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: PutMessage error = %v, want %v in its chain", tt.name, err, tt.want)
		}
	}
}
