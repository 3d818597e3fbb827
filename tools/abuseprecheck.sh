#!/usr/bin/env bash
# abuseprecheck.sh runs today's abuse suite (reliability/abuse_test.go)
# against the code before issue #15 (BASE, default d0cabf7: main just before
# the 'abuse' merge), to show which of its cases that code gets wrong.
# The whole old stack runs: its functions, its dev template, its emulator.
# One adaptation: that issuer cannot mint a wschat:channels claim (and that
# server would not read one), so the capped client's token has none.
# It succeeds when the old code fails at least one case; the old run's
# per-case lines are printed. Needs what `make test-e2e` needs.
set -euo pipefail

base=${BASE:-d0cabf7}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
old="$tmp/old"
cleanup() { git -C "$root" worktree remove --force "$old" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

git -C "$root" worktree add --quiet --detach "$old" "$base"
ln -s "$(readlink -f "$root/node_modules")" "$old/node_modules"
cp "$root/reliability/abuse_test.go" "$old/reliability/"
sed -i 's/e\.TokenWithChannels(ctx, "capped", "general=r team-\*=rw")/e.Token(ctx, "capped")/' "$old/reliability/abuse_test.go"
grep -q 'e.Token(ctx, "capped")' "$old/reliability/abuse_test.go" || { echo "abuseprecheck: the adaptation no longer applies" >&2; exit 1; }

cd "$old"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
npx --no-install cdk synth WsChat-dev -c env=dev --output cdk.out --quiet >/dev/null
go test ./reliability -run Abuse -v -count=1 >"$tmp/run.log" 2>&1 || true
grep -E 'abuse case|^abuse:' "$tmp/run.log" | sed 's/^ *abuse_test.go:[0-9]*: //'
grep -Eq '^abuse: .*accepted wrongly [1-9]' "$tmp/run.log" || { echo "abuseprecheck: the old code failed no case (or the run broke)" >&2; tail -20 "$tmp/run.log" >&2; exit 1; }
