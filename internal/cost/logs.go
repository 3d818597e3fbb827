package cost

import (
	"fmt"
	"regexp"
	"strings"
)

// PlatformLines are the lines Lambda itself writes to a function's log
// group for one invocation, which CloudWatch Logs bills like the
// function's own: with the JSON log format and the system log level INFO
// (the default), platform.start and platform.report; with WARN, none;
// with the text format, START, END and REPORT. requestID is a UUID.
func PlatformLines(format, systemLevel, requestID string, durationMs float64, memoryMB, maxMemoryMB int) []string {
	billed := int(durationMs)
	if float64(billed) < durationMs {
		billed++
	}
	const at = "2026-12-06T19:35:42.408Z"
	if strings.EqualFold(format, "JSON") {
		if strings.EqualFold(systemLevel, "WARN") {
			return nil
		}
		return []string{
			fmt.Sprintf(`{"time":%q,"type":"platform.start","record":{"requestId":%q,"version":"$LATEST"}}`, at, requestID),
			fmt.Sprintf(`{"time":%q,"type":"platform.report","record":{"requestId":%q,"metrics":{"durationMs":%.3f,"billedDurationMs":%d,"memorySizeMB":%d,"maxMemoryUsedMB":%d},"status":"success"}}`,
				at, requestID, durationMs, billed, memoryMB, maxMemoryMB),
		}
	}
	return []string{
		fmt.Sprintf("START RequestId: %s Version: $LATEST", requestID),
		fmt.Sprintf("END RequestId: %s", requestID),
		fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
			requestID, durationMs, billed, memoryMB, maxMemoryMB),
	}
}

// Shape sums lines into events and bytes.
func Shape(lines []string) (events int, bytes float64) {
	for _, l := range lines {
		events++
		bytes += float64(len(l))
	}
	return events, bytes
}

// accessVar matches a $context variable of an access log format.
var accessVar = regexp.MustCompile(`\$context\.[A-Za-z0-9_.]+`)

// accessSample is what API Gateway writes for each variable of wschat's
// access log format on a typical WebSocket message; "-" is what it writes
// for an empty value. A variable not listed gets "-" too.
var accessSample = map[string]string{
	"$context.requestId":               "Kj8sPeBBIAMFsXw=",
	"$context.extendedRequestId":       "Kj8sPeBBIAMFsXw=",
	"$context.connectionId":            "L0SM9cOFvHcCIhw=",
	"$context.routeKey":                "send",
	"$context.eventType":               "MESSAGE",
	"$context.status":                  "200",
	"$context.requestTimeEpoch":        "1796585742401",
	"$context.identity.sourceIp":       "203.0.113.42",
	"$context.integrationStatus":       "200",
	"$context.integrationLatency":      "27",
	"$context.integrationErrorMessage": "-",
	"$context.authorizer.error":        "-",
	"$context.error.message":           "-",
	"$context.identity.userArn":        "arn:aws:iam::123456789012:role/backend-publisher",
	"$context.responseLength":          "52",
}

// AccessLogLine renders an API Gateway access log format (the stage's
// AccessLogSettings.Format) for a typical request to routeKey.
func AccessLogLine(format, routeKey string) string {
	return accessVar.ReplaceAllStringFunc(format, func(v string) string {
		if v == "$context.routeKey" {
			return routeKey
		}
		if s, ok := accessSample[v]; ok {
			return s
		}
		return "-"
	})
}
