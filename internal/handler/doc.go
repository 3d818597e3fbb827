// Package handler holds the Lambda handlers of the runtime functions:
// Connect ($connect), Disconnect ($disconnect) and Chat (every action route
// and $default), with the settings they read (Config) and the identity the
// authorizer passes (IdentityFromAuthorizer).
//
// It sits above the domain (internal/chat): it translates API Gateway's
// events into domain calls and domain outcomes into frames and responses.
// Each handler states what it needs from storage as a small interface
// (ConnectStore, ChatStore, …); internal/dynamo implements them, and
// internal/compose wires the two together.
package handler
