package chatstack

import (
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wschatcdk"
)

func TestAlarmsNotifyTheTopic(t *testing.T) {
	for _, env := range envNames {
		t.Run(env, func(t *testing.T) {
			template := tmpl(t, env)
			topics := resources(t, template, "AWS::SNS::Topic")
			if len(topics) != 1 {
				t.Fatalf("got %d topics, want 1", len(topics))
			}
			var topicID string
			for id, topic := range topics {
				topicID = id
				if refID(props(topic)["KmsMasterKeyId"]) == "" {
					t.Errorf("topic is not encrypted with the stack's key: %s", asJSON(props(topic)["KmsMasterKeyId"]))
				}
			}
			alarms := resources(t, template, "AWS::CloudWatch::Alarm")
			got := map[string]bool{}
			for id, a := range alarms {
				p := props(a)
				if refID(firstOf(p["AlarmActions"])) != topicID || refID(firstOf(p["OKActions"])) != topicID {
					t.Errorf("alarm %s does not notify the topic: %s", id, asJSON(p["AlarmActions"]))
				}
				if p["TreatMissingData"] != "notBreaching" {
					t.Errorf("alarm %s treats missing data as %v", id, p["TreatMissingData"])
				}
				key := ""
				switch {
				case p["MetricName"] != nil:
					key = p["Namespace"].(string) + "/" + p["MetricName"].(string)
					if p["Namespace"] == "AWS/Lambda" || p["Namespace"] == "AWS/SQS" {
						key += "/" + refID(p["Dimensions"].([]any)[0].(map[string]any)["Value"])
					}
				default: // a math expression (DynamoDB throttles by operation)
					key = "expression/" + asJSON(p["Metrics"])[:60]
				}
				got[key] = true
			}
			fns := functionByPackage(t, template)
			for _, name := range []string{contract.FunctionAuthorizer, contract.FunctionConnect, contract.FunctionDisconnect, contract.FunctionChat,
				contract.FunctionPublish, contract.FunctionFanout} {
				for _, m := range []string{"Errors", "Throttles"} {
					if !got["AWS/Lambda/"+m+"/"+fns[name]] {
						t.Errorf("no %s alarm on the %s function", m, name)
					}
				}
			}
			ns := wschatcdk.MetricsNamespace(synthesized[env].stack.Config.Name)
			for _, want := range []string{"AWS/ApiGateway/IntegrationError", ns + "/" + contract.MetricFanoutFailed} {
				if !got[want] {
					t.Errorf("no alarm on %s (have %v)", want, keys(got))
				}
			}
			throttle := false
			for k := range got {
				if strings.HasPrefix(k, "expression/") && strings.Contains(asJSON(alarms), "ThrottledRequests") {
					throttle = true
				}
			}
			if !throttle {
				t.Errorf("no DynamoDB throttle alarm")
			}

			subs := resources(t, template, "AWS::SNS::Subscription")
			if email := synthesized[env].stack.Config.AlarmEmail; email != "" {
				if len(subs) != 1 || props(firstMap(subs))["Endpoint"] != email || props(firstMap(subs))["Protocol"] != "email" {
					t.Errorf("subscriptions %s, want one e-mail to %s", asJSON(subs), email)
				}
			} else if len(subs) != 0 {
				t.Errorf("got %d subscriptions without an alarm e-mail", len(subs))
			}
		})
	}
}

func firstOf(v any) any {
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}

func firstMap(m map[string]map[string]any) map[string]any {
	for _, v := range m {
		return v
	}
	return nil
}

func TestDashboardShowsTheChatSignals(t *testing.T) {
	for _, env := range envNames {
		dashboards := resources(t, tmpl(t, env), "AWS::CloudWatch::Dashboard")
		if len(dashboards) != 1 {
			t.Fatalf("%s: got %d dashboards, want 1", env, len(dashboards))
		}
		body := asJSON(props(firstMap(dashboards))["DashboardBody"])
		for _, want := range []string{"ConnectCount", "MessageCount", "IntegrationError", contract.MetricDeliveries,
			contract.MetricFanoutDuration, contract.MetricRateLimited, "ThrottledRequests", "Duration",
			contract.MetricFanoutTasks, contract.MetricFanoutThrottled, "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: dashboard lacks %s", env, want)
			}
		}
	}
}

func TestMetricsNamespaceReachesHandlers(t *testing.T) {
	for _, env := range envNames {
		template := tmpl(t, env)
		res := template["Resources"].(map[string]any)
		for _, name := range []string{contract.FunctionConnect, contract.FunctionDisconnect, contract.FunctionChat, contract.FunctionPublish, contract.FunctionFanout} {
			vars := props(res[functionByPackage(t, template)[name]].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			if want := wschatcdk.MetricsNamespace(synthesized[env].stack.Config.Name); vars[contract.EnvMetricsNamespace] != want {
				t.Errorf("%s %s: namespace %v, want %s", env, name, vars[contract.EnvMetricsNamespace], want)
			}
		}
	}
}

func TestTracingPerEnvironment(t *testing.T) {
	want := map[string]bool{"dev": false, "staging": true, "prod": true, "prod-issuer": true, "dev-pinned": false}
	for _, env := range envNames {
		for name, id := range functionByPackage(t, tmpl(t, env)) {
			fn := tmpl(t, env)["Resources"].(map[string]any)[id].(map[string]any)
			mode, _ := props(fn)["TracingConfig"].(map[string]any)
			if got := mode["Mode"] == "Active"; got != want[env] {
				t.Errorf("%s %s: active tracing %v, want %v", env, name, got, want[env])
			}
		}
	}
}

func TestCustomDomainKeepsExecuteAPICallback(t *testing.T) {
	for _, env := range envNames {
		template := tmpl(t, env)
		domains := resources(t, template, "AWS::ApiGatewayV2::DomainName")
		mappings := resources(t, template, "AWS::ApiGatewayV2::ApiMapping")
		cfg := synthesized[env].stack.Config
		if cfg.Domain == nil {
			if len(domains)+len(mappings) != 0 {
				t.Errorf("%s: custom domain resources without a configured domain", env)
			}
			continue
		}
		if len(domains) != 1 || len(mappings) != 1 {
			t.Fatalf("%s: %d domains and %d mappings, want 1 and 1", env, len(domains), len(mappings))
		}
		d := props(firstMap(domains))
		if d["DomainName"] != cfg.Domain.Name || !strings.Contains(asJSON(d["DomainNameConfigurations"]), cfg.Domain.CertificateARN) {
			t.Errorf("%s: domain %s, want %s with %s", env, asJSON(d), cfg.Domain.Name, cfg.Domain.CertificateARN)
		}
		// Handlers must keep posting to execute-api: @connections is not
		// served on custom domains.
		for name, id := range functionByPackage(t, template) {
			vars := props(template["Resources"].(map[string]any)[id].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
			if cb, ok := vars[contract.EnvCallbackURL]; ok && (strings.Contains(asJSON(cb), cfg.Domain.Name) || !strings.Contains(asJSON(cb), ".execute-api.")) {
				t.Errorf("%s %s: callback URL %s must be the execute-api URL", env, name, asJSON(cb))
			}
		}
	}
}
