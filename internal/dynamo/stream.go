package dynamo

// What a write to the table means to integrations. The table's stream
// (NEW_AND_OLD_IMAGES) has one record per item write that changed the item,
// written atomically with it; DecodeChange reads the records of the items
// that carry a change worth an event and ignores every other (counters,
// claims, fan-out keys, rate-limit updates, tombstones, repeated joins).
// StreamFilters is the same choice as event filter patterns, so the stream's
// event source mapping invokes the events function only for such records.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
)

// Stream record event names.
const (
	StreamInsert = "INSERT"
	StreamModify = "MODIFY"
	StreamRemove = "REMOVE"
)

// StreamEvent is the event a DynamoDB stream's event source mapping passes
// to a function: the JSON of aws-lambda-go's events.DynamoDBEvent, with the
// images decoded into the SDK's attribute values the store reads (a test
// decodes aws-lambda-go's own fixture with it).
type StreamEvent struct {
	Records []StreamRecord `json:"Records"`
}

// StreamRecord is one record of the stream.
type StreamRecord struct {
	EventID        string `json:"eventID"`
	EventName      string `json:"eventName"`
	EventSource    string `json:"eventSource"`
	EventSourceARN string `json:"eventSourceARN"`
	AWSRegion      string `json:"awsRegion"`
	Change         struct {
		// ApproximateCreationDateTime is Unix seconds.
		ApproximateCreationDateTime float64 `json:"ApproximateCreationDateTime"`
		Keys                        Image   `json:"Keys"`
		NewImage                    Image   `json:"NewImage"`
		OldImage                    Image   `json:"OldImage"`
		SequenceNumber              string  `json:"SequenceNumber"`
		SizeBytes                   int64   `json:"SizeBytes"`
		StreamViewType              string  `json:"StreamViewType"`
	} `json:"dynamodb"`
	// UserIdentity is set on a record of an item DynamoDB's TTL deleted:
	// {"type":"Service","principalId":"dynamodb.amazonaws.com"}.
	UserIdentity *struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity,omitempty"`
}

// ByTTL reports whether DynamoDB's TTL removed the item.
func (r StreamRecord) ByTTL() bool {
	return r.UserIdentity != nil && r.UserIdentity.Type == "Service" && r.UserIdentity.PrincipalID == "dynamodb.amazonaws.com"
}

// Image is an item in DynamoDB's JSON ({"S":"…"}, {"N":"…"}, …).
type Image map[string]types.AttributeValue

// UnmarshalJSON decodes DynamoDB JSON.
func (im *Image) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("item image: %w", err)
	}
	if raw == nil {
		*im = nil
		return nil
	}
	out := make(Image, len(raw))
	for name, v := range raw {
		av, err := decodeAttr(v)
		if err != nil {
			return fmt.Errorf("item image attribute %s: %w", name, err)
		}
		out[name] = av
	}
	*im = out
	return nil
}

// MarshalJSON encodes DynamoDB JSON (for tests and the emulator's stream).
func (im Image) MarshalJSON() ([]byte, error) {
	if im == nil {
		return []byte("null"), nil
	}
	out := make(map[string]any, len(im))
	for k, v := range im {
		enc, err := encodeAttr(v)
		if err != nil {
			return nil, fmt.Errorf("item image attribute %s: %w", k, err)
		}
		out[k] = enc
	}
	return json.Marshal(out)
}

func decodeAttr(raw json.RawMessage) (types.AttributeValue, error) {
	var one map[string]json.RawMessage
	if err := json.Unmarshal(raw, &one); err != nil || len(one) != 1 {
		return nil, errors.New("want an object with one type key")
	}
	for typ, v := range one {
		switch typ {
		case "S":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberS{Value: s}, err
		case "N":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberN{Value: s}, err
		case "B":
			var b []byte // encoding/json decodes base64
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberB{Value: b}, err
		case "BOOL":
			var b bool
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberBOOL{Value: b}, err
		case "NULL":
			var b bool
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberNULL{Value: b}, err
		case "SS":
			var ss []string
			err := json.Unmarshal(v, &ss)
			return &types.AttributeValueMemberSS{Value: ss}, err
		case "NS":
			var ss []string
			err := json.Unmarshal(v, &ss)
			return &types.AttributeValueMemberNS{Value: ss}, err
		case "BS":
			var bs [][]byte
			err := json.Unmarshal(v, &bs)
			return &types.AttributeValueMemberBS{Value: bs}, err
		case "L":
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, err
			}
			out := make([]types.AttributeValue, 0, len(list))
			for _, e := range list {
				av, err := decodeAttr(e)
				if err != nil {
					return nil, err
				}
				out = append(out, av)
			}
			return &types.AttributeValueMemberL{Value: out}, nil
		case "M":
			var m Image
			err := json.Unmarshal(v, &m)
			return &types.AttributeValueMemberM{Value: m}, err
		default:
			return nil, fmt.Errorf("unknown type %q", typ)
		}
	}
	return nil, errors.New("empty attribute")
}

func encodeAttr(av types.AttributeValue) (any, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]string{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		return map[string]string{"N": v.Value}, nil
	case *types.AttributeValueMemberB:
		return map[string]string{"B": base64.StdEncoding.EncodeToString(v.Value)}, nil
	case *types.AttributeValueMemberBOOL:
		return map[string]bool{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return map[string]bool{"NULL": v.Value}, nil
	case *types.AttributeValueMemberSS:
		return map[string][]string{"SS": v.Value}, nil
	case *types.AttributeValueMemberNS:
		return map[string][]string{"NS": v.Value}, nil
	case *types.AttributeValueMemberBS:
		return map[string][][]byte{"BS": v.Value}, nil
	case *types.AttributeValueMemberL:
		list := make([]any, 0, len(v.Value))
		for _, e := range v.Value {
			enc, err := encodeAttr(e)
			if err != nil {
				return nil, err
			}
			list = append(list, enc)
		}
		return map[string]any{"L": list}, nil
	case *types.AttributeValueMemberM:
		m, err := Image(v.Value).MarshalJSON()
		return map[string]json.RawMessage{"M": m}, err
	}
	return nil, fmt.Errorf("unknown attribute value %T", av)
}

// StreamFilters are the event filter patterns the stack puts on the events
// function's event source mapping (contract.EventStreamFilters, shared
// with the stack): they let through exactly the records DecodeChange may
// turn into a change, so the rate-limit updates, counters, claims and
// fan-out keys of every request never invoke it. DecodeChange still
// decides (a channel item's write passes when its new count is 0 or 1, and
// is a change only when the count crossed 0 ↔ 1). The store's test checks
// the two agree on a scripted chat's every write.
var StreamFilters = contract.EventStreamFilters

// DecodeChange reads one stream record of the table: the change it records
// and true, or false when the write is not one integrations hear of. An
// error means the record is malformed (it will not get better on a retry).
func DecodeChange(r StreamRecord) (chat.StoredChange, bool, error) {
	keys := r.Change.Keys
	pk, sk := strAttr(keys, attrPK), strAttr(keys, attrSK)
	if pk == "" || sk == "" {
		return chat.StoredChange{}, false, fmt.Errorf("stream record %s: no %s/%s in its keys", r.EventID, attrPK, attrSK)
	}
	c := chat.StoredChange{ID: r.EventID, At: streamTime(r.Change.ApproximateCreationDateTime), Expired: r.ByTTL()}
	old, cur := r.Change.OldImage, r.Change.NewImage
	switch {
	case strings.HasPrefix(pk, "HIST#"):
		channel := strings.TrimPrefix(pk, "HIST#")
		if cur != nil && isModeration(cur) {
			// A moderation action: its item is final when written and
			// never changed after, so only its INSERT is a change.
			if r.EventName != StreamInsert {
				return c, false, nil
			}
			c.Kind, c.Moderation = chat.ChangeModeration, decodeModeration(channel, cur)
			return c, true, nil
		}
		if cur == nil || boolAttr(cur, attrTombstone) || isChange(cur) {
			return c, false, nil // a tombstone, a change's own item, a removal
		}
		switch r.EventName {
		case StreamInsert:
			// A plain message. A reply is stored pending (it changes its
			// parent): it is a message once its parent's write counts it.
			if chat.Status(strAttr(cur, attrStatus)) != chat.StatusFinal {
				return c, false, nil
			}
			c.Kind, c.Message = chat.ChangeMessageCreated, decodeMessage(channel, cur)
			return c, true, nil
		case StreamModify:
			// A message's state written as the effect of the stream item
			// at its new Pend (the lifecycle's commit point: the change
			// or reply is applied exactly when this write succeeds).
			// ResolveApplied reads that item to name the change.
			before, _ := numAttr(old, attrPend)
			after, _ := numAttr(cur, attrPend)
			if after == 0 || after == before {
				return c, false, nil // settling, marking, or nothing of the state
			}
			c.Kind, c.Message = chat.ChangeApplied, decodeMessage(channel, cur)
			return c, true, nil
		}
		return c, false, nil
	case strings.HasPrefix(pk, "CHAN#") && strings.HasPrefix(sk, "CONN#"):
		channel, _, _ := strings.Cut(strings.TrimPrefix(pk, "CHAN#"), "#")
		switch {
		case r.EventName == StreamInsert && cur != nil:
			c.Kind, c.Member = chat.ChangeMemberJoined, decodeMember(channel, cur)
		case r.EventName == StreamRemove && old != nil:
			c.Kind, c.Member = chat.ChangeMemberLeft, decodeMember(channel, old)
		default:
			return c, false, nil
		}
		if c.Member.ConnectionID == "" {
			c.Member.ConnectionID = strings.TrimPrefix(sk, "CONN#")
		}
		return c, true, nil
	case strings.HasPrefix(pk, "CHAN#") && sk == "META":
		before, _ := numAttr(old, attrMembers)
		after, _ := numAttr(cur, attrMembers)
		c.Channel = strings.TrimPrefix(pk, "CHAN#")
		switch {
		case before <= 0 && after >= 1:
			c.Kind = chat.ChangeChannelOccupied
		case before >= 1 && after <= 0:
			c.Kind = chat.ChangeChannelVacated
		default:
			return c, false, nil
		}
		return c, true, nil
	case strings.HasPrefix(pk, "CONN#") && sk == "META":
		id := strings.TrimPrefix(pk, "CONN#")
		switch {
		case r.EventName == StreamInsert && cur != nil:
			c.Kind, c.Connection = chat.ChangeConnectionOpened, decodeConnection(id, cur)
		case r.EventName == StreamRemove && old != nil:
			c.Kind, c.Connection = chat.ChangeConnectionClosed, decodeConnection(id, old)
		default:
			return c, false, nil
		}
		return c, true, nil
	case strings.HasPrefix(pk, "NOTE#"):
		if r.EventName != StreamInsert || cur == nil {
			return c, false, nil
		}
		c.Kind, c.Notice = chat.ChangeUserNotified, decodeNotice(cur)
		return c, true, nil
	}
	return c, false, nil
}

func streamTime(sec float64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(sec * 1000)).UTC()
}

// ResolveApplied names a chat.ChangeApplied change: it reads the stream
// item at the message's Pend (a strongly consistent GetItem of the item
// the handler stored before it wrote the message) and returns the change
// as message.edited, message.deleted, reaction.added or reaction.removed
// (Change set, Message the message's state after it), or a reply's
// message.created (Message the reply). false: the item is gone (past its
// retention) or names no change of this message; the caller drops it.
func (s *Store) ResolveApplied(ctx context.Context, c chat.StoredChange) (chat.StoredChange, bool, error) {
	if c.Kind != chat.ChangeApplied {
		return c, true, nil
	}
	target := c.Message
	item, err := s.getLive(ctx, "resolve change", key(historyPK(target.Channel), historySK(target.Pend)))
	if errors.Is(err, chat.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if !isChange(item) {
		reply := decodeMessage(target.Channel, item)
		if boolAttr(item, attrTombstone) || reply.ReplyTo != target.Seq {
			return c, false, nil
		}
		c.Kind, c.Message = chat.ChangeMessageCreated, reply
		return c, true, nil
	}
	ch := decodeChange(target.Channel, item)
	if ch.Target != target.Seq {
		return c, false, nil
	}
	switch ch.Op {
	case chat.OpEdit:
		c.Kind = chat.ChangeMessageEdited
	case chat.OpDelete:
		c.Kind = chat.ChangeMessageDeleted
	case chat.OpReact:
		c.Kind = chat.ChangeReactionAdded
	case chat.OpUnreact:
		c.Kind = chat.ChangeReactionRemoved
	default:
		return c, false, nil
	}
	ch.Text = "" // an edit's new text is the message's (Message.Text)
	c.Change = ch
	return c, true, nil
}
