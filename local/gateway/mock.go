package gateway

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wschat/wschat/internal/vtl"
)

// Mock is a MOCK integration: API Gateway answers the route itself, from
// mapping templates, and no function runs (API Gateway Developer Guide,
// "Set up a WebSocket API integration response": a non-proxy integration
// answers through its integration responses, and a route sends the answer
// back only when it has a route response). The request template picked by
// RequestKey must render {"statusCode": N}; the first response whose
// pattern matches N, else the $default one, renders the answer.
type Mock struct {
	RequestKey       string
	RequestTemplates map[string]*vtl.Template
	Responses        []MockResponse
}

// MockResponse is one integration response of a Mock.
type MockResponse struct {
	Key         vtl.ResponseKey
	TemplateKey string
	Templates   map[string]*vtl.Template
}

// NewMock parses the templates of a MOCK integration.
func NewMock(requestKey string, requestTemplates map[string]string, responses []MockResponseSpec) (*Mock, error) {
	m := &Mock{RequestKey: requestKey}
	var err error
	if m.RequestTemplates, err = parseTemplates(requestTemplates); err != nil {
		return nil, err
	}
	for _, r := range responses {
		key, err := vtl.ParseResponseKey(r.Key)
		if err != nil {
			return nil, err
		}
		tpls, err := parseTemplates(r.Templates)
		if err != nil {
			return nil, err
		}
		m.Responses = append(m.Responses, MockResponse{Key: key, TemplateKey: r.TemplateKey, Templates: tpls})
	}
	return m, nil
}

// MockResponseSpec is an integration response as the template states it.
type MockResponseSpec struct {
	Key, TemplateKey string
	Templates        map[string]string
}

func parseTemplates(src map[string]string) (map[string]*vtl.Template, error) {
	out := map[string]*vtl.Template{}
	for k, s := range src {
		t, err := vtl.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", k, err)
		}
		out[k] = t
	}
	return out, nil
}

// errMockConfig is API Gateway's complaint about a request template that
// does not yield a status code.
var errMockConfig = fmt.Errorf("execution failed due to configuration error: statusCode should be an integer which defined in request template")

// answer runs the mock for one message: the rendered answer, or "" when no
// integration response (or template) applies.
func (m *Mock) answer(vars map[string]string) (string, error) {
	tpl, ok := vtl.Select(m.RequestTemplates, m.RequestKey)
	if !ok {
		return "", errMockConfig
	}
	var req struct {
		StatusCode *json.Number `json:"statusCode"`
	}
	if err := json.Unmarshal([]byte(tpl.Render(vars)), &req); err != nil || req.StatusCode == nil {
		return "", errMockConfig
	}
	status, err := req.StatusCode.Int64()
	if err != nil {
		return "", errMockConfig
	}
	code := strconv.FormatInt(status, 10)
	var chosen *MockResponse
	for i := range m.Responses {
		if m.Responses[i].Key.Matches(code) {
			chosen = &m.Responses[i]
			break
		}
	}
	if chosen == nil {
		for i := range m.Responses {
			if m.Responses[i].Key.Key == vtl.Default {
				chosen = &m.Responses[i]
			}
		}
	}
	if chosen == nil {
		return "", nil
	}
	out, ok := vtl.Select(chosen.Templates, chosen.TemplateKey)
	if !ok {
		return "", nil
	}
	return out.Render(vars), nil
}

// templateVars are the $context variables of one message, as API Gateway
// fills them (internal/vtl.Contexts).
func (c *connection) templateVars(routeKey, requestID string, at time.Time) map[string]string {
	v := map[string]string{
		"connectionId":       c.id,
		"connectedAt":        strconv.FormatInt(c.connectedAt.UnixMilli(), 10),
		"domainName":         c.domainName,
		"eventType":          "MESSAGE",
		"messageId":          newID(),
		"routeKey":           routeKey,
		"requestId":          requestID,
		"extendedRequestId":  requestID,
		"apiId":              c.g.cfg.APIID,
		"stage":              c.g.cfg.Stage,
		"requestTime":        at.UTC().Format(requestTimeLayout),
		"requestTimeEpoch":   strconv.FormatInt(at.UnixMilli(), 10),
		"identity.sourceIp":  c.sourceIP,
		"identity.userAgent": c.userAgent,
	}
	for k, val := range c.authorizer {
		v["authorizer."+k] = fmt.Sprint(val)
	}
	return v
}
