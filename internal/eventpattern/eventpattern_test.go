package eventpattern

import (
	"testing"
)

// The sample event of EventBridge's content-filtering documentation and of
// aws/event-ruler's README; the cases below are the patterns documented with
// it, each with the answer the documentation gives, plus the negative
// variant that shows the operator is applied.
const ec2Event = `{
  "version": "0",
  "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "012345679012",
  "time": "2017-10-02T16:24:49Z",
  "region": "us-east-1",
  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  "detail": {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    "state": "running"
  }
}`

func TestDocumentedExamples(t *testing.T) {
	tests := []struct {
		name, pattern string
		want          bool
	}{
		{"simple matching", `{"detail-type":["EC2 Instance State-change Notification"],"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],"detail":{"state":["initializing","running"]}}`, true},
		{"simple matching, other state", `{"detail":{"state":["initializing","stopped"]}}`, false},
		{"source and detail-type", `{"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"]}`, true},
		{"case matters", `{"source":["AWS.EC2"]}`, false},
		{"prefix", `{"time":[{"prefix":"2017-10-02"}]}`, true},
		{"prefix, other day", `{"time":[{"prefix":"2017-10-03"}]}`, false},
		{"prefix ignoring case", `{"detail-type":[{"prefix":{"equals-ignore-case":"ec2 INSTANCE"}}]}`, true},
		{"suffix", `{"source":[{"suffix":"ec2"}]}`, true},
		{"suffix, other", `{"source":[{"suffix":"s3"}]}`, false},
		{"suffix ignoring case", `{"source":[{"suffix":{"equals-ignore-case":"EC2"}}]}`, true},
		{"equals-ignore-case", `{"source":[{"equals-ignore-case":"AWS.EC2"}]}`, true},
		{"wildcard", `{"detail-type":[{"wildcard":"EC2*State-change*"}]}`, true},
		{"wildcard, no match", `{"source":[{"wildcard":"Simple*Service"}]}`, false},
		{"anything-but", `{"detail":{"state":[{"anything-but":"initializing"}]}}`, true},
		{"anything-but the value", `{"detail":{"state":[{"anything-but":"running"}]}}`, false},
		{"anything-but number", `{"detail":{"x-limit":[{"anything-but":123}]}}`, true},
		{"anything-but list of strings", `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, true},
		{"anything-but list holding the value", `{"detail":{"state":[{"anything-but":["stopped","running"]}]}}`, false},
		{"anything-but list of numbers", `{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}`, true},
		{"anything-but prefix", `{"detail":{"state":[{"anything-but":{"prefix":"init"}}]}}`, true},
		{"anything-but prefix of the value", `{"detail":{"state":[{"anything-but":{"prefix":"run"}}]}}`, false},
		{"anything-but suffix", `{"detail":{"instance-id":[{"anything-but":{"suffix":"000"}}]}}`, false},
		{"anything-but ignoring case", `{"detail":{"state":[{"anything-but":{"equals-ignore-case":"RUNNING"}}]}}`, false},
		{"anything-but wildcard", `{"source":[{"anything-but":{"wildcard":"*/lib/*"}}]}`, true},
		{"anything-but on a missing field", `{"detail":{"missing":[{"anything-but":"x"}]}}`, false},
		{"numeric", `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"numeric":["=",3.018e2]}]}}`, true},
		{"numeric out of range", `{"detail":{"c-count":[{"numeric":[">",5]}]}}`, false},
		{"numeric on a string", `{"detail":{"state":[{"numeric":[">",0]}]}}`, false},
		{"exact number, other spelling", `{"detail":{"x-limit":[3.018e2]}}`, true},
		{"cidr", `{"detail":{"source-ip":[{"cidr":"10.0.0.0/24"}]}}`, true},
		{"cidr, other net", `{"detail":{"source-ip":[{"cidr":"10.0.1.0/24"}]}}`, false},
		{"exists", `{"detail":{"c-count":[{"exists":true}]}}`, true},
		{"exists false", `{"detail":{"c-count":[{"exists":false}]}}`, false},
		{"missing exists false", `{"detail":{"e-count":[{"exists":false}]}}`, true},
		{"missing exists true", `{"detail":{"e-count":[{"exists":true}]}}`, false},
		{"missing parent, exists false", `{"nothing":{"below":[{"exists":false}]}}`, true},
		{"every named field must exist", `{"detail":{"state":["running"],"missing":["x"]}}`, false},
		{"complex example", `{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}],"source-ip":[{"cidr":"10.0.0.0/8"}]}}`, true},
	}
	for _, tt := range tests {
		p, err := Parse([]byte(tt.pattern))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := p.Match([]byte(ec2Event))
		if err != nil || got != tt.want {
			t.Errorf("%s: match = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestExistsOnlyOnLeaves: the README's note that exists:false matches a
// field whose value is an object (it is not a leaf).
func TestExistsOnlyOnLeaves(t *testing.T) {
	ev := `{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"running","c-count":{"c1":100}}}`
	for pattern, want := range map[string]bool{
		`{"detail":{"c-count":[{"exists":false}]}}`: true,
		`{"detail":{"c-count":[{"exists":true}]}}`:  false,
		`{"detail":{"c-count":{"c1":[100]}}}`:       true,
	} {
		if got, _ := MustParse(pattern).Match([]byte(ev)); got != want {
			t.Errorf("%s: %v, want %v", pattern, got, want)
		}
	}
}

func TestOr(t *testing.T) {
	tests := []struct {
		name, pattern, event string
		want                 bool
	}{
		{"normal or, first", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`,
			`{"source":"aws.cloudwatch","metricName":"ReadLatency"}`, true},
		{"normal or, second", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`,
			`{"source":"aws.cloudwatch","namespace":"AWS/ES"}`, true},
		{"normal or, neither", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`,
			`{"source":"aws.cloudwatch","namespace":"AWS/S3"}`, false},
		{"normal or, and fails", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}`,
			`{"source":"aws.ec2","namespace":"AWS/EC2"}`, false},
		{"parallel or", `{"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}],"detail":{"$or":[{"source":["aws.cloudwatch"]},{"detail-type":["CloudWatch Alarm State Change"]}]}}`,
			`{"namespace":"AWS/EC2","detail":{"detail-type":"CloudWatch Alarm State Change"}}`, true},
		{"parallel or, second level fails", `{"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}],"detail":{"$or":[{"source":["aws.cloudwatch"]},{"detail-type":["CloudWatch Alarm State Change"]}]}}`,
			`{"namespace":"AWS/EC2","detail":{"detail-type":"other"}}`, false},
		{"and inside or", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"metricType":["MetricType"],"namespace":["AWS/EC2","AWS/ES"]},{"scope":["Service"]}]}`,
			`{"source":"aws.cloudwatch","metricType":"MetricType","namespace":"AWS/ES"}`, true},
		{"and inside or, half", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"metricType":["MetricType"],"namespace":["AWS/EC2","AWS/ES"]},{"scope":["Service"]}]}`,
			`{"source":"aws.cloudwatch","metricType":"MetricType"}`, false},
		{"nested or and and", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"metricType":["MetricType"],"namespace":["AWS/EC2","AWS/ES"],"$or":[{"metricId":[1234]},{"spaceId":[1000]}]},{"scope":["Service"]}]}`,
			`{"source":"aws.cloudwatch","metricType":"MetricType","namespace":"AWS/EC2","spaceId":1000}`, true},
		{"nested or and and, inner fails", `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"metricType":["MetricType"],"namespace":["AWS/EC2","AWS/ES"],"$or":[{"metricId":[1234]},{"spaceId":[1000]}]},{"scope":["Service"]}]}`,
			`{"source":"aws.cloudwatch","metricType":"MetricType","namespace":"AWS/EC2","spaceId":1001}`, false},
	}
	for _, tt := range tests {
		got, err := MustParse(tt.pattern).Match([]byte(tt.event))
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestArrays: the README's JSON array matching, with array-consistent
// semantics (rulesForJSONEvent): the fields of a sub-pattern must match in
// one element; a scalar array matches when any element does.
func TestArrays(t *testing.T) {
	employees := `{"employees":[{"firstName":"John","lastName":"Doe"},{"firstName":"Anna","lastName":"Smith"},{"firstName":"Peter","lastName":"Jones"}]}`
	for pattern, want := range map[string]bool{
		`{"employees":{"firstName":["Anna"]}}`:                      true,
		`{"employees":{"firstName":["Anna"],"lastName":["Smith"]}}`: true,
		`{"employees":{"firstName":["Anna"],"lastName":["Jones"]}}`: false,
		`{"employees":{"firstName":["Zoe"]}}`:                       false,
	} {
		if got, _ := MustParse(pattern).Match([]byte(employees)); got != want {
			t.Errorf("%s: %v, want %v", pattern, got, want)
		}
	}
	if got, _ := MustParse(`{"resources":["b","z"]}`).Match([]byte(`{"resources":["a","b"]}`)); !got {
		t.Error("intersecting arrays did not match")
	}
	if got, _ := MustParse(`{"resources":["z"]}`).Match([]byte(`{"resources":["a","b"]}`)); got {
		t.Error("disjoint arrays matched")
	}
	for pattern, want := range map[string]bool{`{"a":[null]}`: true, `{"a":[""]}`: false, `{"b":[""]}`: true, `{"c":[true]}`: true, `{"c":["true"]}`: false} {
		if got, _ := MustParse(pattern).Match([]byte(`{"a":null,"b":"","c":true}`)); got != want {
			t.Errorf("%s: %v, want %v", pattern, got, want)
		}
	}
}

// TestLambdaFilterOnStreamRecord: Lambda's event filtering applies the same
// syntax to a DynamoDB stream record, whose values are typed ({"S": ...}).
func TestLambdaFilterOnStreamRecord(t *testing.T) {
	rec := `{"eventName":"INSERT","dynamodb":{"Keys":{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#1"}},"NewImage":{"pk":{"S":"HIST#general"},"members":{"N":"1"}}}}`
	for pattern, want := range map[string]bool{
		`{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}}}}`:                                            true,
		`{"eventName":["REMOVE"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}}}}`:                                            false,
		`{"dynamodb":{"NewImage":{"tombstone":{"BOOL":[{"exists":false}]}}}}`:                                                       true,
		`{"dynamodb":{"NewImage":{"members":{"N":["0","1"]}}}}`:                                                                     true,
		`{"dynamodb":{"NewImage":{"members":{"N":["2"]}}}}`:                                                                         false,
		`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"CHAN#"}]},"sk":{"S":[{"prefix":"CONN#"}]}}}}`:                                   false,
		`{"dynamodb":{"OldImage":{"pk":{"S":[{"exists":false}]}}}}`:                                                                 true,
		`{"$or":[{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"CONN#"}]}}}},{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}}}}]}`: true,
	} {
		if got, _ := MustParse(pattern).Match([]byte(rec)); got != want {
			t.Errorf("%s: %v, want %v", pattern, got, want)
		}
	}
}

func TestInvalidPatterns(t *testing.T) {
	for _, p := range []string{
		``, `[]`, `{}`, `{"a":"b"}`, `{"a":[]}`, `{"a":{}}`, `{"a":[{"prefix":1}]}`, `{"a":[{"unknown":"x"}]}`,
		`{"a":[{"prefix":"x","suffix":"y"}]}`, `{"a":[{"numeric":[">"]}]}`, `{"a":[{"numeric":["~",1]}]}`,
		`{"a":[{"numeric":["<",1,">",0]}]}`, `{"a":[{"numeric":[">",6e9]}]}`, `{"a":[{"exists":"yes"}]}`,
		`{"a":[{"cidr":"10.0.0.0/99"}]}`, `{"a":[{"anything-but":[]}]}`, `{"a":[{"anything-but":["x",1]}]}`,
		`{"a":[{"anything-but":{"numeric":[">",1]}}]}`, `{"a":[{"wildcard":"a**b"}]}`, `{"a":[{"wildcard":"a\\b"}]}`,
		`{"$or":[{"a":["x"]}]}`, `{"$or":[{"a":["x"]},"b"]}`, `{"a":[["x"]]}`, `{"a":["x"]} {}`,
	} {
		if _, err := Parse([]byte(p)); err == nil {
			t.Errorf("Parse(%s) accepted", p)
		}
	}
	if _, err := MustParse(`{"a":["x"]}`).Match([]byte(`[1]`)); err == nil {
		t.Error("a non-object event matched without error")
	}
}

func TestWildcard(t *testing.T) {
	for _, tt := range []struct {
		pattern, value string
		want           bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "abbbc", true},
		{"a*c", "ab", false}, {"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false}, {"ab*ab", "ab", false},
		{`a\*b`, "a*b", true}, {`a\*b`, "aXb", false}, {`a\\b`, `a\b`, true}, {"abc", "abc", true},
	} {
		m, err := parseWildcard(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.match(tt.value); got != tt.want {
			t.Errorf("wildcard %q on %q = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}
