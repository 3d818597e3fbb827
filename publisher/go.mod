module github.com/wschat/wschat/publisher

go 1.26.0

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/credentials v1.21.1
	github.com/wschat/wschat/wire v0.1.0
)

require github.com/aws/smithy-go v1.28.9 // indirect

// Local development: the wire contract from this checkout (see client/go.mod).
replace github.com/wschat/wschat/wire => ../wire
