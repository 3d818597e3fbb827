package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
)

// GroupsClaim is the claim in which Cognito lists the user pool groups of
// the user, in ID and access tokens alike. Only an administrator (IAM
// credentials) can change group membership, so a user cannot grant itself
// a group's channels.
const GroupsClaim = "cognito:groups"

// Where a token's channel grant came from, as Identity.ChannelsFrom.
const (
	// ChannelsFromClaim: the token's ChannelsClaim.
	ChannelsFromClaim = "claim"
	// ChannelsFromGroups: the token's groups, through Config.GroupChannels.
	ChannelsFromGroups = "groups"
	// ChannelsFromNone: neither; the handlers apply the environment's default.
	ChannelsFromNone = "none"
)

// groupNamePattern is what Cognito accepts as a group name.
var groupNamePattern = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$`)

// parseGroupChannels reads contract.EnvGroupChannels: a JSON object of group
// name to capability string. Empty means no mapping.
func parseGroupChannels(raw string) (map[string]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of Cognito group to channel capabilities: %w", contract.EnvGroupChannels, err)
	}
	return m, nil
}

// checkGroupChannels validates a group mapping: Cognito group names, and
// capability strings that parse. It parses all of them joined, so that any
// set of groups a token names stays within the capability limits at run time.
func checkGroupChannels(m map[string]string) error {
	var errs []error
	names := slices.Sorted(maps.Keys(m))
	for _, g := range names {
		if !groupNamePattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("%s: group %q is not a Cognito group name", contract.EnvGroupChannels, g))
		}
		if _, err := chat.ParseCapabilities(m[g]); err != nil {
			errs = append(errs, fmt.Errorf("%s: group %q: %w", contract.EnvGroupChannels, g, err))
		}
	}
	if len(errs) == 0 && len(m) > 0 {
		if _, err := chat.ParseCapabilities(joinGrants(m, names)); err != nil {
			errs = append(errs, fmt.Errorf("%s: all groups together: %w", contract.EnvGroupChannels, err))
		}
	}
	return errors.Join(errs...)
}

func joinGrants(m map[string]string, groups []string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = m[g]
	}
	return strings.Join(parts, " ")
}

// grant returns a verified token's channel capabilities in canonical form
// and where they came from. The channels claim, when present, decides
// alone; else the groups the mapping lists add up; else there is no grant
// and the handlers apply the environment's default. A claim we cannot read
// grants nothing rather than everything: it is refused.
func (v *Verifier) grant(c *claims) (caps, from string, err error) {
	if c.Channels != nil {
		parsed, err := chat.ParseCapabilities(*c.Channels)
		if err != nil {
			return "", "", reject(ReasonCapabilities, "%s claim is not a channel capability list", ChannelsClaim)
		}
		return parsed.String(), ChannelsFromClaim, nil
	}
	if len(v.cfg.GroupChannels) == 0 || len(c.Groups) == 0 || string(c.Groups) == "null" {
		return "", ChannelsFromNone, nil
	}
	var groups []string
	if err := json.Unmarshal(c.Groups, &groups); err != nil {
		return "", "", reject(ReasonCapabilities, "%s claim is not an array of strings", GroupsClaim)
	}
	var mapped []string
	for _, g := range groups {
		if _, ok := v.cfg.GroupChannels[g]; ok && !slices.Contains(mapped, g) {
			mapped = append(mapped, g)
		}
	}
	if len(mapped) == 0 {
		return "", ChannelsFromNone, nil
	}
	// Sorted, so one set of groups always reads the same.
	slices.Sort(mapped)
	parsed, err := chat.ParseCapabilities(joinGrants(v.cfg.GroupChannels, mapped))
	if err != nil {
		// checkGroupChannels rules this out; fail closed all the same.
		return "", "", reject(ReasonCapabilities, "the groups' channel capabilities exceed the limits")
	}
	return parsed.String(), ChannelsFromGroups, nil
}
