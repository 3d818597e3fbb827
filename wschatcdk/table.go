package wschatcdk

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wschat/wschat/internal/contract"
)

// TableConstructID is frozen: the table's logical id derives from it, and a
// new logical id makes CloudFormation replace the table, losing every
// connection and all history. A test asserts the resulting logical id.
const TableConstructID = "Table"

// tableProps configures the chat table.
type tableProps struct {
	Retain              bool
	PointInTimeRecovery bool
	// Stream turns on the table's stream (new and old images), which the
	// events function reads.
	Stream bool
}

// newTable defines the single chat table: connections, memberships, counters
// and history share one pk/sk key space (see internal/dynamo). On-demand
// billing because chat traffic is spiky; TTL because connections end within
// two hours and history has a retention period. No physical name, so two
// environments can share an account and a replacement never collides.
//
// NewChat passes TableConstructID.
func newTable(scope constructs.Construct, id string, props tableProps) awsdynamodb.Table {
	var stream awsdynamodb.StreamViewType
	if props.Stream {
		stream = awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES
	}
	return awsdynamodb.NewTable(scope, jsii.String(id), &awsdynamodb.TableProps{
		Stream:       stream,
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(contract.TablePartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(contract.TableSortKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		// Encrypted with the AWS managed key (aws/dynamodb): auditable in
		// CloudTrail, no key policy to maintain.
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		TimeToLiveAttribute: jsii.String(contract.TableTTLAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(props.PointInTimeRecovery),
		},
		DeletionProtection: jsii.Bool(props.Retain),
		RemovalPolicy:      removalPolicy(props.Retain),
	})
}
