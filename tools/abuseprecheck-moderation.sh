#!/usr/bin/env bash
# abuseprecheck-moderation.sh runs today's abuse suite (reliability/
# abuse_test.go, abuse_authz_test.go and abuse_moderation_test.go) against
# the code before moderation (BASE, default e00e1d4: the authz branch that
# moderation was built on: private channels, direct messages, expiry,
# renewal and revocation, without roles, mute or ban), to show that each
# moderation case fails there. The whole old stack runs: its functions, its
# dev template, its emulator. No adaptation is needed: the cases use only
# raw frames and raw signed HTTP, which the old code answers (unknown_action,
# 404) rather than fails to build. It succeeds when the old code fails every
# moderation case; the old run's per-case lines are printed. Needs what
# `make test-e2e` needs.
set -euo pipefail

base=${BASE:-e00e1d4}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
old="$tmp/old"
cleanup() { git -C "$root" worktree remove --force "$old" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

git -C "$root" worktree add --quiet --detach "$old" "$base"
ln -s "$(readlink -f "$root/node_modules")" "$old/node_modules"
cp "$root/reliability/abuse_test.go" "$root/reliability/abuse_authz_test.go" "$root/reliability/abuse_moderation_test.go" "$old/reliability/"

cd "$old"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
npx --no-install cdk synth WsChat-dev -c env=dev --output cdk.out --quiet >/dev/null
go test ./reliability -run Abuse -v -count=1 >"$tmp/run.log" 2>&1 || true
grep -E 'abuse case "moderation:' "$tmp/run.log" | sed 's/^ *abuse_[a-z_]*test.go:[0-9]*: //'
cases=$(grep -c 'abuse case "moderation:' "$tmp/run.log" || true)
wrong=$(grep -c 'abuse case "moderation:.*accepted wrongly' "$tmp/run.log" || true)
echo "abuseprecheck-moderation: $wrong of $cases moderation cases accepted wrongly by $base"
if [ "$cases" -eq 0 ] || [ "$wrong" -ne "$cases" ]; then
	echo "abuseprecheck-moderation: want every moderation case to fail on the old code (or the run broke)" >&2
	tail -30 "$tmp/run.log" >&2
	exit 1
fi
