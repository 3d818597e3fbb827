package dynamo

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

func millis(t time.Time) types.AttributeValue { return num(t.UnixMilli()) }

func epoch(t time.Time) types.AttributeValue { return num(t.Unix()) }

func strAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numAttr(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

func boolAttr(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

func setAttr(item map[string]types.AttributeValue, name string) []string {
	if v, ok := item[name].(*types.AttributeValueMemberSS); ok {
		return v.Value
	}
	return nil
}

func timeMillis(item map[string]types.AttributeValue, name string) time.Time {
	n, ok := numAttr(item, name)
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func timeEpoch(item map[string]types.AttributeValue, name string) time.Time {
	n, ok := numAttr(item, name)
	if !ok {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
