#!/usr/bin/env bash
# abuseprecheck-authz.sh runs today's abuse suite (reliability/abuse_test.go
# and abuse_authz_test.go) against the code before issue #21 (BASE, default
# 8d5ff88: main as last merged into the authz branch), to show that each of that
# issue's cases (private channels, direct messages, expiry, renewal,
# revocation) fails there. The whole old stack runs: its functions, its dev
# template, its emulator.
#
# Two adaptations, neither of them in the code under test:
#   - the old local issuer cannot mint short-lived tokens: its HTTP handler
#     (internal/localissuer/http.go, a development tool) is replaced by
#     today's, which takes a ttl;
#   - the old emulator has no --schedule-interval flag (it had no
#     schedules to run): the suite's start line drops it.
# It succeeds when the old code fails every authz case; the old run's
# per-case lines are printed. Needs what `make test-e2e` needs.
set -euo pipefail

base=${BASE:-8d5ff88}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
old="$tmp/old"
cleanup() { git -C "$root" worktree remove --force "$old" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

git -C "$root" worktree add --quiet --detach "$old" "$base"
ln -s "$(readlink -f "$root/node_modules")" "$old/node_modules"
cp "$root/reliability/abuse_test.go" "$root/reliability/abuse_authz_test.go" "$old/reliability/"
cp "$root/internal/localissuer/http.go" "$old/internal/localissuer/http.go"
sed -i 's/"--virtual-connections", "--schedule-interval", "1s"}/"--virtual-connections"}/' "$old/reliability/abuse_test.go"
grep -q '"--schedule-interval"' "$old/reliability/abuse_test.go" && { echo "abuseprecheck-authz: the adaptation no longer applies" >&2; exit 1; }

cd "$old"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
npx --no-install cdk synth WsChat-dev -c env=dev --output cdk.out --quiet >/dev/null
go test ./reliability -run Abuse -v -count=1 >"$tmp/run.log" 2>&1 || true
grep -E 'abuse case "authz:' "$tmp/run.log" | sed 's/^ *abuse_[a-z_]*test.go:[0-9]*: //'
cases=$(grep -c 'abuse case "authz:' "$tmp/run.log" || true)
wrong=$(grep -c 'abuse case "authz:.*accepted wrongly' "$tmp/run.log" || true)
echo "abuseprecheck-authz: $wrong of $cases authz cases accepted wrongly by $base"
if [ "$cases" -eq 0 ] || [ "$wrong" -ne "$cases" ]; then
	echo "abuseprecheck-authz: want every authz case to fail on the old code (or the run broke)" >&2
	tail -30 "$tmp/run.log" >&2
	exit 1
fi
