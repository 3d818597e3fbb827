package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
)

// Change kinds of one resource between the base and the head template.
const (
	Added    = "added"
	Removed  = "removed"
	Modified = "modified"
)

// ResourceChange is one resource that differs between two templates.
type ResourceChange struct {
	LogicalID string
	Type      string // the head's type, or the base's for a removed resource
	Kind      string // Added, Removed or Modified
	// Fields lists what changed in a modified resource: property names, or
	// Type, DependsOn, DeletionPolicy, UpdateReplacePolicy, Condition.
	Fields []string
	// Security is true when the change can widen or narrow who may do what:
	// see securityRelevant.
	Security bool
}

// String describes c in one line, e.g. "ChatRoleDefaultPolicy (AWS::IAM::Policy) modified: PolicyDocument".
func (c ResourceChange) String() string {
	s := fmt.Sprintf("%s (%s) %s", c.LogicalID, c.Type, c.Kind)
	if len(c.Fields) > 0 {
		s += ": " + strings.Join(c.Fields, ", ")
	}
	return s
}

// TemplateDiff is the comparison of one stack's base and head templates.
type TemplateDiff struct {
	Changes []ResourceChange // sorted by logical id
}

// Count returns how many resources were added, removed and modified.
func (d TemplateDiff) Count() (added, removed, modified int) {
	for _, c := range d.Changes {
		switch c.Kind {
		case Added:
			added++
		case Removed:
			removed++
		case Modified:
			modified++
		}
	}
	return added, removed, modified
}

// SecurityChanges returns the changes that securityRelevant flags.
func (d TemplateDiff) SecurityChanges() []ResourceChange {
	var out []ResourceChange
	for _, c := range d.Changes {
		if c.Security {
			out = append(out, c)
		}
	}
	return out
}

// template is the part of a CloudFormation template that deploys resources.
type template struct {
	Resources map[string]map[string]any `json:"Resources"`
}

// readTemplate reads a CloudFormation JSON template. An empty path stands
// for a stack that does not exist yet: no resources.
func readTemplate(path string) (template, error) {
	var t template
	if path == "" {
		return t, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("parse template %s: %w", path, err)
	}
	return t, nil
}

// ignoredKeys are resource attributes that deploy nothing: CDK's construct
// paths and asset paths live in Metadata and move with refactors.
var ignoredKeys = map[string]bool{"Metadata": true}

// ignoredTypes are resources that cdk diff hides too.
var ignoredTypes = map[string]bool{"AWS::CDK::Metadata": true}

// CompareTemplates compares the resources of two templates.
func CompareTemplates(base, head template) TemplateDiff {
	var d TemplateDiff
	ids := map[string]bool{}
	for id := range base.Resources {
		ids[id] = true
	}
	for id := range head.Resources {
		ids[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		b, inBase := base.Resources[id]
		h, inHead := head.Resources[id]
		switch {
		case inBase && !inHead:
			t := typeOf(b)
			if ignoredTypes[t] {
				continue
			}
			d.Changes = append(d.Changes, ResourceChange{LogicalID: id, Type: t, Kind: Removed, Security: securityType(t)})
		case !inBase && inHead:
			t := typeOf(h)
			if ignoredTypes[t] {
				continue
			}
			d.Changes = append(d.Changes, ResourceChange{LogicalID: id, Type: t, Kind: Added, Security: securityType(t)})
		default:
			if ignoredTypes[typeOf(h)] {
				continue
			}
			if c, ok := compareResource(id, b, h); ok {
				d.Changes = append(d.Changes, c)
			}
		}
	}
	return d
}

// compareResource reports whether one resource changed and how.
func compareResource(id string, base, head map[string]any) (ResourceChange, bool) {
	c := ResourceChange{LogicalID: id, Type: typeOf(head), Kind: Modified}
	bt, ht := typeOf(base), typeOf(head)
	if bt != ht {
		c.Fields = append(c.Fields, "Type")
		c.Security = securityType(bt) || securityType(ht)
	}
	bp, _ := base["Properties"].(map[string]any)
	hp, _ := head["Properties"].(map[string]any)
	props := map[string]bool{}
	for k := range bp {
		props[k] = true
	}
	for k := range hp {
		props[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if reflect.DeepEqual(bp[k], hp[k]) {
			continue
		}
		if k == "Environment" && ht == "AWS::Lambda::Function" {
			// Name the variables: most are tuning, but the ones that
			// configure token verification decide who gets in.
			for _, v := range changedVariables(bp[k], hp[k]) {
				c.Fields = append(c.Fields, "Environment."+v)
				if securityVariable(v) {
					c.Security = true
				}
			}
			continue
		}
		c.Fields = append(c.Fields, k)
		if securityType(ht) || securityProperties[k] {
			c.Security = true
		}
	}
	attrs := map[string]bool{}
	for k := range base {
		attrs[k] = true
	}
	for k := range head {
		attrs[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if k == "Type" || k == "Properties" || ignoredKeys[k] {
			continue
		}
		if !reflect.DeepEqual(base[k], head[k]) {
			c.Fields = append(c.Fields, k)
		}
	}
	return c, len(c.Fields) > 0
}

// changedVariables lists the Lambda environment variables that differ
// between two Environment properties ({"Variables": {...}}).
func changedVariables(base, head any) []string {
	vars := func(env any) map[string]any {
		m, _ := env.(map[string]any)
		v, _ := m["Variables"].(map[string]any)
		return v
	}
	bv, hv := vars(base), vars(head)
	names := map[string]bool{}
	for k := range bv {
		names[k] = true
	}
	for k := range hv {
		names[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(names)) {
		if !reflect.DeepEqual(bv[k], hv[k]) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		// Something besides Variables changed (e.g. a KMS key): name the
		// property itself.
		out = append(out, "*")
	}
	return out
}

// securityVariable reports whether a function environment variable
// configures authentication (issuer, audiences, keys), judged by its name:
// the tool imports nothing from the module, and the stack's variables are
// named WSCHAT_AUTH_*.
func securityVariable(name string) bool {
	n := strings.ToUpper(name)
	return name == "*" || strings.Contains(n, "AUTH") || strings.Contains(n, "ISSUER") ||
		strings.Contains(n, "AUDIENCE") || strings.Contains(n, "JWKS")
}

func typeOf(r map[string]any) string {
	t, _ := r["Type"].(string)
	return t
}

// securityType reports whether every change to a resource of type t is
// security-relevant: identities and their policies, resource policies
// (S3 bucket, SQS queue, SNS topic, Logs resource policies and the like all
// end in "Policy"), Lambda invoke permissions, security groups and their
// rules, and the WebSocket API's authorizer.
func securityType(t string) bool {
	switch {
	case strings.HasSuffix(t, "ScalingPolicy"):
		// Application Auto Scaling and EC2 Auto Scaling policies grant nothing.
		return false
	case strings.HasPrefix(t, "AWS::IAM::"),
		strings.HasPrefix(t, "AWS::EC2::SecurityGroup"),
		strings.HasSuffix(t, "Policy"),
		t == "AWS::Lambda::Permission",
		t == "AWS::Lambda::Url",
		t == "AWS::ApiGatewayV2::Authorizer",
		t == "AWS::ApiGateway::Authorizer",
		t == "AWS::KMS::Key":
		return true
	}
	return false
}

// securityProperties are properties that grant, bind or guard access on any
// resource type: which role a function or integration runs as, inline and
// managed policies, key and resource policies, network exposure, and which
// authorizer (if any) guards a route.
var securityProperties = map[string]bool{
	"Role":                     true,
	"RoleArn":                  true,
	"CredentialsArn":           true,
	"ExecutionRoleArn":         true,
	"Policies":                 true,
	"PolicyDocument":           true,
	"ManagedPolicyArns":        true,
	"AssumeRolePolicyDocument": true,
	"PermissionsBoundary":      true,
	"KeyPolicy":                true,
	"ResourcePolicy":           true,
	"SecurityGroupIds":         true,
	"SecurityGroups":           true,
	"SecurityGroupIngress":     true,
	"SecurityGroupEgress":      true,
	"VpcConfig":                true,
	"AuthorizationType":        true,
	"AuthorizerId":             true,
	"AuthorizationScopes":      true,
	"ApiKeyRequired":           true,
	"AuthType":                 true,
}
