package dynamo_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

// TestStreamEventDecodesLambdasFixture decodes aws-lambda-go's own
// dynamodb-event.json with StreamEvent and compares every record, key and
// attribute with what aws-lambda-go's events.DynamoDBEvent reads from it:
// the function gets the event Lambda sends.
func TestStreamEventDecodesLambdasFixture(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", "dynamodb-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ours dynamo.StreamEvent
	if err := json.Unmarshal(raw, &ours); err != nil {
		t.Fatal(err)
	}
	var theirs events.DynamoDBEvent
	if err := json.Unmarshal(raw, &theirs); err != nil {
		t.Fatal(err)
	}
	if len(ours.Records) != len(theirs.Records) || len(ours.Records) == 0 {
		t.Fatalf("%d records, aws-lambda-go reads %d", len(ours.Records), len(theirs.Records))
	}
	attrs := 0
	for i, r := range ours.Records {
		th := theirs.Records[i]
		if r.EventID != th.EventID || r.EventName != th.EventName || r.EventSourceARN != th.EventSourceArn ||
			r.Change.SequenceNumber != th.Change.SequenceNumber || int64(r.Change.ApproximateCreationDateTime) != th.Change.ApproximateCreationDateTime.Unix() {
			t.Errorf("record %d: %+v, aws-lambda-go %+v", i, r, th)
		}
		if r.ByTTL() != (th.UserIdentity != nil && th.UserIdentity.Type == "Service") {
			t.Errorf("record %d: ByTTL %v, userIdentity %+v", i, r.ByTTL(), th.UserIdentity)
		}
		for _, pair := range []struct {
			ours   dynamo.Image
			theirs map[string]events.DynamoDBAttributeValue
		}{{r.Change.Keys, th.Change.Keys}, {r.Change.NewImage, th.Change.NewImage}, {r.Change.OldImage, th.Change.OldImage}} {
			if len(pair.ours) != len(pair.theirs) {
				t.Errorf("record %d: %d attributes, aws-lambda-go %d", i, len(pair.ours), len(pair.theirs))
			}
			for name, av := range pair.theirs {
				attrs++
				if !sameAttr(pair.ours[name], av) {
					t.Errorf("record %d attribute %s: %#v, aws-lambda-go %v", i, name, pair.ours[name], av)
				}
			}
		}
		// Encoding back gives what aws-lambda-go reads the same way.
		b, err := json.Marshal(r.Change.NewImage)
		if err != nil {
			t.Fatal(err)
		}
		var again map[string]events.DynamoDBAttributeValue
		if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, th.Change.NewImage) {
			t.Errorf("record %d: re-encoded image %s reads as %v, want %v (%v)", i, b, again, th.Change.NewImage, err)
		}
	}
	if attrs < 10 {
		t.Errorf("compared only %d attributes", attrs)
	}
}

func sameAttr(ours types.AttributeValue, theirs events.DynamoDBAttributeValue) bool {
	switch v := ours.(type) {
	case *types.AttributeValueMemberS:
		return theirs.DataType() == events.DataTypeString && theirs.String() == v.Value
	case *types.AttributeValueMemberN:
		return theirs.DataType() == events.DataTypeNumber && theirs.Number() == v.Value
	case *types.AttributeValueMemberB:
		return theirs.DataType() == events.DataTypeBinary && string(theirs.Binary()) == string(v.Value)
	case *types.AttributeValueMemberBS:
		return theirs.DataType() == events.DataTypeBinarySet && reflect.DeepEqual(theirs.BinarySet(), v.Value)
	case *types.AttributeValueMemberSS:
		return theirs.DataType() == events.DataTypeStringSet && reflect.DeepEqual(theirs.StringSet(), v.Value)
	case *types.AttributeValueMemberNS:
		return theirs.DataType() == events.DataTypeNumberSet && reflect.DeepEqual(theirs.NumberSet(), v.Value)
	case *types.AttributeValueMemberBOOL:
		return theirs.DataType() == events.DataTypeBoolean && theirs.Boolean() == v.Value
	case *types.AttributeValueMemberNULL:
		return theirs.DataType() == events.DataTypeNull
	case *types.AttributeValueMemberL:
		list := theirs.List()
		if theirs.DataType() != events.DataTypeList || len(list) != len(v.Value) {
			return false
		}
		for i := range list {
			if !sameAttr(v.Value[i], list[i]) {
				return false
			}
		}
		return true
	case *types.AttributeValueMemberM:
		m := theirs.Map()
		if theirs.DataType() != events.DataTypeMap || len(m) != len(v.Value) {
			return false
		}
		for k := range m {
			if !sameAttr(v.Value[k], m[k]) {
				return false
			}
		}
		return true
	}
	return false
}

// TestDecodeChangeIgnoresMalformedAndForeignRecords: records of other
// items, or without keys, are no change; a record without the table's keys
// is an error (a retry cannot fix it).
func TestDecodeChangeIgnoresMalformedAndForeignRecords(t *testing.T) {
	for _, body := range []string{
		`{"eventID":"1","eventName":"INSERT","dynamodb":{"Keys":{"pk":{"S":"CTR#general"},"sk":{"S":"SEQ"}},"NewImage":{"pk":{"S":"CTR#general"},"sk":{"S":"SEQ"},"seq":{"N":"1"}}}}`,
		`{"eventID":"2","eventName":"MODIFY","dynamodb":{"Keys":{"pk":{"S":"CONN#c1"},"sk":{"S":"META"}},"NewImage":{"pk":{"S":"CONN#c1"},"sk":{"S":"META"}},"OldImage":{"pk":{"S":"CONN#c1"},"sk":{"S":"META"}}}}`,
		`{"eventID":"3","eventName":"INSERT","dynamodb":{"Keys":{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000001"}},"NewImage":{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000001"},"tombstone":{"BOOL":true}}}}`,
		`{"eventID":"4","eventName":"MODIFY","dynamodb":{"Keys":{"pk":{"S":"CHAN#general"},"sk":{"S":"META"}},"NewImage":{"members":{"N":"1"}},"OldImage":{"members":{"N":"2"}}}}`,
		`{"eventID":"5","eventName":"MODIFY","dynamodb":{"Keys":{"pk":{"S":"CHAN#general#0"},"sk":{"S":"CONN#c1"}},"NewImage":{"userId":{"S":"u"}},"OldImage":{"userId":{"S":"u"}}}}`,
	} {
		var r dynamo.StreamRecord
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		if c, ok, err := dynamo.DecodeChange(r); ok || err != nil {
			t.Errorf("record %s: change %+v, %v; want none", r.EventID, c, err)
		}
	}
	var r dynamo.StreamRecord
	_ = json.Unmarshal([]byte(`{"eventID":"6","eventName":"INSERT","dynamodb":{"Keys":{"id":{"S":"x"}}}}`), &r)
	if _, _, err := dynamo.DecodeChange(r); err == nil {
		t.Error("a record without pk/sk decoded")
	}
	for _, bad := range []string{`{"a":{"Q":"x"}}`, `{"a":{"S":"x","N":"1"}}`, `{"a":"x"}`} {
		var im dynamo.Image
		if err := json.Unmarshal([]byte(bad), &im); err == nil {
			t.Errorf("image %s decoded", bad)
		}
	}
	_ = chat.ChangeMessageCreated
}
