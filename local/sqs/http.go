package sqs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AccountID is the account in queue URLs and ARNs, as in the rest of the
// emulator's fake ARNs.
const AccountID = "000000000000"

// SenderID is every message's SenderId: requests are signed with the local
// account's own credentials, and SQS names an account's root by its id.
const SenderID = AccountID

// systemAttributes are a received message's attributes as SQS returns them
// with AttributeNames [All] and as Lambda passes them in an SQS event.
func systemAttributes(m Message) map[string]string {
	return map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
		"SentTimestamp":                    strconv.FormatInt(m.SentAt.UnixMilli(), 10),
		"SenderId":                         SenderID,
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstReceive.UnixMilli(), 10),
	}
}

// maxRequestBytes bounds a request body: ten messages at the body limit,
// plus the JSON around them.
const maxRequestBytes = MaxBatch*MaxBodyBytes + 64*1024

// Handler serves the AWS JSON 1.0 protocol for a Broker at base (the URL the
// server is reached at, e.g. http://127.0.0.1:4566), which queue URLs start
// with.
type Handler struct {
	Broker *Broker
	Base   string
	Region string
}

// QueueURL is the URL of queue name.
func (h *Handler) QueueURL(name string) string {
	return strings.TrimSuffix(h.Base, "/") + "/" + AccountID + "/" + name
}

func (h *Handler) queueARN(name string) string {
	region := h.Region
	if region == "" {
		region = "us-east-1"
	}
	return "arn:aws:sqs:" + region + ":" + AccountID + ":" + name
}

// apiError is an error answer: HTTP 400 and {"__type","message"}.
type apiError struct {
	code string
	msg  string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorFor(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, known := range []error{ErrQueueDoesNotExist, ErrReceiptHandleInvalid, ErrMessageNotInflight, ErrInvalidParameterValue} {
		if errors.Is(err, known) {
			return &apiError{code: known.Error(), msg: err.Error()}
		}
	}
	return &apiError{code: "InternalError", msg: err.Error()}
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{code: "InvalidParameterValue", msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one request. Only POST with a known X-Amz-Target is
// accepted; every bad input gets a 400 with the code SQS would use.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSQS.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{code: "InvalidAction", msg: fmt.Sprintf("want POST with X-Amz-Target AmazonSQS.<Operation>, got %s %q", r.Method, target)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(body) > maxRequestBytes {
		writeError(w, badRequest("request body unreadable or over %d bytes", maxRequestBytes))
		return
	}
	out, err := h.dispatch(r, op, body)
	if err != nil {
		writeError(w, errorFor(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}

func (h *Handler) dispatch(r *http.Request, op string, body []byte) (any, error) {
	switch op {
	case "GetQueueUrl":
		return h.getQueueURL(body)
	case "GetQueueAttributes":
		return h.getQueueAttributes(body)
	case "SendMessage":
		return h.sendMessage(body)
	case "SendMessageBatch":
		return h.sendMessageBatch(body)
	case "ReceiveMessage":
		return h.receiveMessage(r, body)
	case "DeleteMessage":
		return h.deleteMessage(body)
	case "DeleteMessageBatch":
		return h.deleteMessageBatch(body)
	case "ChangeMessageVisibility":
		return h.changeVisibility(body)
	}
	return nil, &apiError{code: "InvalidAction", msg: "operation " + op + " is not emulated"}
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("request is not the expected JSON: %v", err)
	}
	return nil
}

// decodeQueue decodes body into v and returns the name of the queue that
// *url, v's QueueUrl once decoded, points at.
func decodeQueue(body []byte, v any, url *string) (string, error) {
	if err := decode(body, v); err != nil {
		return "", err
	}
	return queueName(*url)
}

// queueName maps a QueueUrl to its queue name (the last path segment).
func queueName(url string) (string, error) {
	i := strings.LastIndexByte(url, '/')
	if url == "" || i == len(url)-1 {
		return "", badRequest("QueueUrl %q names no queue", url)
	}
	return url[i+1:], nil
}

func seconds(n *int, dflt time.Duration) time.Duration {
	if n == nil {
		return dflt
	}
	return time.Duration(*n) * time.Second
}

func (h *Handler) getQueueURL(body []byte) (any, error) {
	var in struct{ QueueName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if _, err := h.Broker.Config(in.QueueName); err != nil {
		return nil, err
	}
	return map[string]string{"QueueUrl": h.QueueURL(in.QueueName)}, nil
}

func (h *Handler) getQueueAttributes(body []byte) (any, error) {
	var in struct{ QueueUrl string }
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	cfg, err := h.Broker.Config(name)
	if err != nil {
		return nil, err
	}
	visible, inflight, _, err := h.Broker.Depth(name)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{
		"QueueArn":                              h.queueARN(name),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"VisibilityTimeout":                     strconv.Itoa(int(cfg.VisibilityTimeout / time.Second)),
		"MessageRetentionPeriod":                strconv.Itoa(int(cfg.Retention / time.Second)),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(int(cfg.ReceiveWait / time.Second)),
	}
	if cfg.DeadLetterQueue != "" {
		policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": h.queueARN(cfg.DeadLetterQueue), "maxReceiveCount": cfg.MaxReceiveCount})
		attrs["RedrivePolicy"] = string(policy)
	}
	return map[string]any{"Attributes": attrs}, nil
}

type sendEntry struct {
	Id           string
	MessageBody  string
	DelaySeconds *int
	// Not emulated: refused rather than dropped, so a sender that relies on
	// them learns it here instead of from a consumer that never sees them.
	MessageAttributes       map[string]json.RawMessage
	MessageSystemAttributes map[string]json.RawMessage
	MessageGroupId          *string
}

// check refuses what the emulated queues do not keep.
func (e sendEntry) check() error {
	switch {
	case len(e.MessageAttributes) > 0 || len(e.MessageSystemAttributes) > 0:
		return badRequest("message attributes are not emulated; put what the consumer needs in the body")
	case e.MessageGroupId != nil:
		return badRequest("MessageGroupId: FIFO queues are not emulated")
	}
	return nil
}

func (h *Handler) sendMessage(body []byte) (any, error) {
	var in struct {
		QueueUrl string
		sendEntry
	}
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	id, err := h.Broker.Send(name, in.MessageBody, seconds(in.DelaySeconds, 0))
	if err != nil {
		return nil, err
	}
	return map[string]string{"MessageId": id, "MD5OfMessageBody": bodyMD5(in.MessageBody)}, nil
}

type batchFailure struct {
	Id          string
	Code        string
	Message     string
	SenderFault bool
}

// failureOf is a batch entry's failure for err.
func failureOf(id string, err error) batchFailure {
	ae := errorFor(err)
	return batchFailure{Id: id, Code: ae.code, Message: ae.msg, SenderFault: true}
}

// checkBatch applies SQS's batch rules: 1-10 entries with distinct ids.
func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return &apiError{code: "EmptyBatchRequest", msg: "the batch has no entries"}
	}
	if len(ids) > MaxBatch {
		return &apiError{code: "TooManyEntriesInBatchRequest", msg: fmt.Sprintf("%d entries, at most %d", len(ids), MaxBatch)}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return &apiError{code: "BatchEntryIdsNotDistinct", msg: "entry id " + id + " repeats"}
		}
		seen[id] = true
	}
	return nil
}

// checkBatchOn applies checkBatch to the entry ids, then checks that the
// queue exists, before any entry is acted on.
func (h *Handler) checkBatchOn(name string, ids []string) error {
	if err := checkBatch(ids); err != nil {
		return err
	}
	_, err := h.Broker.Config(name)
	return err
}

func (h *Handler) sendMessageBatch(body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []sendEntry
	}
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := h.checkBatchOn(name, ids); err != nil {
		return nil, err
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	out := struct {
		Successful []ok
		Failed     []batchFailure
	}{Successful: []ok{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		err := e.check()
		var id string
		if err == nil {
			id, err = h.Broker.Send(name, e.MessageBody, seconds(e.DelaySeconds, 0))
		}
		if err != nil {
			out.Failed = append(out.Failed, failureOf(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: id, MD5OfMessageBody: bodyMD5(e.MessageBody)})
	}
	return out, nil
}

func (h *Handler) receiveMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl            string
		MaxNumberOfMessages *int
		VisibilityTimeout   *int
		WaitTimeSeconds     *int
	}
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	max := 1
	if in.MaxNumberOfMessages != nil {
		max = *in.MaxNumberOfMessages
	}
	cfg, err := h.Broker.Config(name)
	if err != nil {
		return nil, err
	}
	msgs, err := h.Broker.Receive(r.Context(), name, max, seconds(in.VisibilityTimeout, 0), seconds(in.WaitTimeSeconds, cfg.ReceiveWait))
	if err != nil {
		return nil, err
	}
	type wire struct {
		MessageId, ReceiptHandle, MD5OfBody, Body string
		Attributes                                map[string]string
	}
	out := struct{ Messages []wire }{Messages: []wire{}}
	for _, m := range msgs {
		out.Messages = append(out.Messages, wire{
			MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: bodyMD5(m.Body), Body: m.Body,
			// The system attributes the event source mapping passes on.
			Attributes: systemAttributes(m),
		})
	}
	return out, nil
}

func (h *Handler) deleteMessage(body []byte) (any, error) {
	var in struct{ QueueUrl, ReceiptHandle string }
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return struct{}{}, h.Broker.Delete(name, in.ReceiptHandle)
}

func (h *Handler) deleteMessageBatch(body []byte) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []struct{ Id, ReceiptHandle string }
	}
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := h.checkBatchOn(name, ids); err != nil {
		return nil, err
	}
	type ok struct{ Id string }
	out := struct {
		Successful []ok
		Failed     []batchFailure
	}{Successful: []ok{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		if err := h.Broker.Delete(name, e.ReceiptHandle); err != nil {
			out.Failed = append(out.Failed, failureOf(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, ok{Id: e.Id})
	}
	return out, nil
}

func (h *Handler) changeVisibility(body []byte) (any, error) {
	var in struct {
		QueueUrl, ReceiptHandle string
		VisibilityTimeout       *int
	}
	name, err := decodeQueue(body, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.VisibilityTimeout == nil {
		return nil, badRequest("VisibilityTimeout is required")
	}
	return struct{}{}, h.Broker.ChangeVisibility(name, in.ReceiptHandle, seconds(in.VisibilityTimeout, 0))
}
