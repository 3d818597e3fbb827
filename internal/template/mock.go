package template

import (
	"encoding/json"
	"fmt"

	"github.com/wschat/wschat/internal/vtl"
)

// Mock is a MOCK integration of the WebSocket API: API Gateway answers the
// route from mapping templates and no function runs. Its request template
// (picked by RequestKey) yields {"statusCode": N}; the integration response
// whose key matches N (else $default) renders the answer, which a two-way
// route sends back to the client.
type Mock struct {
	RequestKey       string            // the literal key the selection expression evaluates to
	RequestTemplates map[string]string // by key
	Responses        []MockResponse
}

// MockResponse is an AWS::ApiGatewayV2::IntegrationResponse of a MOCK
// integration.
type MockResponse struct {
	Key         string // "$default" or "/pattern/" matched against the status
	TemplateKey string
	Templates   map[string]string
}

// integration is what a route's Target names: a function or a mock.
type integration struct {
	fn   *Function
	mock *Mock
}

// notEmulatedOnMock are properties that change what a MOCK integration or
// its responses do and that the emulator does not reproduce.
var notEmulatedOnMock = []string{"ContentHandlingStrategy", "RequestParameters", "ResponseParameters"}

// parseMock reads a MOCK integration; every template must be one the
// emulator renders exactly as API Gateway would (internal/vtl).
func (p *parser) parseMock(id string) (*Mock, error) {
	f := p.props(id)
	if err := refuseProps(f); err != nil {
		return nil, err
	}
	if pb, err := f.str("PassthroughBehavior"); err != nil {
		return nil, err
	} else if pb != "" && pb != "WHEN_NO_MATCH" {
		return nil, f.fail("PassthroughBehavior", fmt.Sprintf("%q is not emulated; only WHEN_NO_MATCH (the default)", pb))
	}
	m := &Mock{}
	var err error
	if m.RequestKey, m.RequestTemplates, err = templates(f, "TemplateSelectionExpression", "RequestTemplates"); err != nil {
		return nil, err
	}
	for _, rid := range p.apiIDs("AWS::ApiGatewayV2::IntegrationResponse") {
		rf := p.props(rid)
		if target, ok := refOf(rf.m["IntegrationId"]); !ok || target != id {
			continue
		}
		if err := refuseProps(rf); err != nil {
			return nil, err
		}
		r := MockResponse{}
		if r.Key, err = rf.str("IntegrationResponseKey"); err != nil {
			return nil, err
		}
		if _, err := vtl.ParseResponseKey(r.Key); err != nil {
			return nil, rf.fail("IntegrationResponseKey", err.Error())
		}
		if r.TemplateKey, r.Templates, err = templates(rf, "TemplateSelectionExpression", "ResponseTemplates"); err != nil {
			return nil, err
		}
		m.Responses = append(m.Responses, r)
	}
	return m, nil
}

func refuseProps(f fields) error {
	for _, prop := range notEmulatedOnMock {
		if _, ok := f.raw(prop); ok {
			return f.fail(prop, "is not emulated on MOCK integrations")
		}
	}
	return nil
}

// templates reads a template map and the literal key its selection
// expression picks, checking that every template can be rendered.
func templates(f fields, selectProp, mapProp string) (string, map[string]string, error) {
	expr, err := f.str(selectProp)
	if err != nil {
		return "", nil, err
	}
	key, err := vtl.SelectionKey(expr)
	if err != nil {
		return "", nil, f.fail(selectProp, err.Error())
	}
	raw, ok := f.raw(mapProp)
	if !ok {
		return key, nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, f.wrongType(mapProp, "an object of literal strings", raw)
	}
	for k, src := range m {
		if _, err := vtl.Parse(src); err != nil {
			return "", nil, f.fail(mapProp+"."+k, err.Error())
		}
	}
	return key, m, nil
}
