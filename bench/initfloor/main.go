// Command initfloor is the smallest Go Lambda function: aws-lambda-go's
// runtime loop and nothing else. The benchmark times its init next to the
// functions' (process start → first GET /runtime/invocation/next), in the
// same run, so a slow init can be told from a slow machine.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, nil })
}
