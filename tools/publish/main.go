// Command publish calls the publish API for people and scripts (make
// publish, make notify, make disconnect, and the access targets make
// private, add-member, remove-member, members, revoke): against the local emulator by
// default, signed with its local credentials, or against a deployed stage
// (-url, the stack's PublishURL) with the SDK's credentials chain.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/publisher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

type options struct {
	verb, channel, to, text, id string
	members, until, cursor      string
	op, role, reason            string
	mute                        time.Duration
	url, stage, region          string
	port                        int
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.StringVar(&o.verb, "verb", "publish", "publish (to -channel), notify (-to a user), disconnect (-to a user); "+
		"private (-channel, -members), add-member and remove-member (-channel, -to), members (-channel), revoke (-to, -until), "+
		"moderate (-channel, -to, -op, -for, -role, -reason)")
	fs.StringVar(&o.members, "members", "", "private: the channel's first members, comma-separated user ids")
	fs.StringVar(&o.until, "until", "", "revoke: refuse tokens issued before this RFC 3339 time (default: now)")
	fs.StringVar(&o.cursor, "cursor", "", "members: the next of the previous page")
	fs.StringVar(&o.op, "op", "", "moderate: mute, unmute, ban, unban or role (of -to in -channel)")
	fs.DurationVar(&o.mute, "for", 0, "moderate -op mute: how long (whole seconds, up to 720h)")
	fs.StringVar(&o.role, "role", "", "moderate -op role: member, moderator or owner")
	fs.StringVar(&o.reason, "reason", "", "moderate: a reason shown with the event (optional)")
	fs.StringVar(&o.channel, "channel", "", "channel to publish to")
	fs.StringVar(&o.to, "to", "", "user id to notify or disconnect")
	fs.StringVar(&o.text, "text", "", "message or notice text")
	fs.StringVar(&o.id, "id", "", "idempotency id (default: a random one; reuse it to retry safely)")
	fs.StringVar(&o.url, "url", "", "a deployed stage's PublishURL; empty means the local emulator on -port")
	fs.IntVar(&o.port, "port", 3001, "port of the local emulator (make dev)")
	fs.StringVar(&o.stage, "stage", "dev", "stage of the local emulator's HTTP API")
	fs.StringVar(&o.region, "region", "", "region of -url (default: the SDK's; us-east-1 locally)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch o.verb {
	case "publish":
		if o.channel == "" || o.text == "" {
			return o, errors.New("publish needs -channel and -text (make publish CHANNEL=general TEXT=hi)")
		}
	case "notify":
		if o.to == "" || o.text == "" {
			return o, errors.New("notify needs -to and -text (make notify TO=ann TEXT=hi)")
		}
	case "disconnect":
		if o.to == "" {
			return o, errors.New("disconnect needs -to (make disconnect TO=ann)")
		}
	default:
		return o, parseAccess(o)
	}
	return o, nil
}

// parseAccess checks the access verbs' flags.
func parseAccess(o options) error {
	switch o.verb {
	case "private":
		if o.channel == "" || o.members == "" {
			return errors.New("private needs -channel and -members (make private CHANNEL=board MEMBERS=ann,bob)")
		}
	case "add-member", "remove-member":
		if o.channel == "" || o.to == "" {
			return fmt.Errorf("%s needs -channel and -to (make %s CHANNEL=board TO=carol)", o.verb, o.verb)
		}
	case "members":
		if o.channel == "" {
			return errors.New("members needs -channel (make members CHANNEL=board)")
		}
	case "revoke":
		if o.to == "" {
			return errors.New("revoke needs -to (make revoke TO=ann [UNTIL=2026-12-01T00:00:00Z])")
		}
		if o.until != "" {
			if _, err := time.Parse(time.RFC3339, o.until); err != nil {
				return fmt.Errorf("-until %q: want an RFC 3339 time such as 2026-12-01T00:00:00Z", o.until)
			}
		}
	case "moderate":
		if o.channel == "" || o.to == "" || o.op == "" {
			return errors.New("moderate needs -channel, -to and -op (make moderate CHANNEL=lobby TO=bob OP=mute FOR=10m)")
		}
	default:
		return fmt.Errorf("unknown -verb %q: want publish, notify, disconnect, private, add-member, remove-member, members, revoke or moderate", o.verb)
	}
	return nil
}

// access runs one of the access verbs.
func access(ctx context.Context, c *publisher.Client, o options) (any, error) {
	switch o.verb {
	case "private":
		var ms []publisher.ListedMember
		for u := range strings.SplitSeq(o.members, ",") {
			if u = strings.TrimSpace(u); u != "" {
				ms = append(ms, publisher.ListedMember{UserID: u})
			}
		}
		return c.CreatePrivate(ctx, o.channel, ms...)
	case "add-member":
		return c.AddMember(ctx, o.channel, o.to, "")
	case "remove-member":
		return c.RemoveMember(ctx, o.channel, o.to)
	case "members":
		return c.Members(ctx, o.channel, o.cursor)
	case "moderate":
		if o.id == "" {
			o.id = randomID()
		}
		return c.Moderate(ctx, o.channel, publisher.ModerationBody{Op: o.op, UserID: o.to, Seconds: int64(o.mute / time.Second),
			Role: o.role, Reason: o.reason, ID: o.id})
	default: // revoke
		var until time.Time
		if o.until != "" {
			until, _ = time.Parse(time.RFC3339, o.until) // checked by parseAccess
		}
		return c.Revoke(ctx, o.to, until)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	c, err := newClient(ctx, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var out any
	switch o.verb {
	case "publish":
		if o.id == "" {
			o.id = randomID()
		}
		out, err = c.Publish(ctx, o.channel, o.id, o.text)
	case "notify":
		out, err = c.Notify(ctx, o.to, o.id, o.text)
	case "disconnect":
		out, err = c.Disconnect(ctx, o.to)
	default:
		out, err = access(ctx, c, o)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(out)
}

// newClient signs with the emulator's local credentials, or with the SDK's
// chain (environment, profile, SSO, role) for a deployed stage.
func newClient(ctx context.Context, o options) (*publisher.Client, error) {
	if o.url == "" {
		region := o.region
		if region == "" {
			region = "us-east-1" // the emulator's default --region
		}
		return publisher.New(publisher.Options{
			Endpoint:    fmt.Sprintf("http://127.0.0.1:%d/@http/%s", o.port, strings.Trim(o.stage, "/")),
			Region:      region,
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		})
	}
	var opts []func(*config.LoadOptions) error
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, errors.New("no region: pass -region or set AWS_REGION")
	}
	return publisher.NewFromConfig(cfg, o.url)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
