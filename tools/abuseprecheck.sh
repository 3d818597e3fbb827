#!/usr/bin/env bash
# abuseprecheck.sh runs today's abuse suite (reliability/abuse_test.go and
# abuse_security_test.go) against older code (BASE, default 7a3ac34: main
# before issue #25's hardening), to show which of its cases that code gets
# wrong. The whole old stack runs: its functions, its dev template, its
# emulator. Adaptations, each applied only where the old code needs it:
#   - (before issue #15) that issuer cannot mint a wschat:channels claim,
#     so the capped client's token has none (the #15 comparison ran at
#     d0cabf7; today's cases also need the virtual connections and table
#     helpers of later code);
#   - (before issue #25) the test helpers TokenNamed and TokenWithSub are
#     added to its emutest, and its local issuer mints any sub without
#     control characters, as another issuer (an OIDC provider) may: that
#     is how a sub with '/' or a space reaches $connect.
# It succeeds when the old code fails at least one case; the old run's
# per-case lines are printed. Needs what `make test-e2e` needs.
set -euo pipefail

base=${BASE:-7a3ac34}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
old="$tmp/old"
cleanup() { git -C "$root" worktree remove --force "$old" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

git -C "$root" worktree add --quiet --detach "$old" "$base"
ln -s "$(readlink -f "$root/node_modules")" "$old/node_modules"
cp "$root/reliability/abuse_test.go" "$root/reliability/abuse_security_test.go" "$old/reliability/"

if ! grep -q 'func (e \*Emulator) TokenWithChannels' "$old"/internal/emutest/*.go; then
	sed -i 's/e\.TokenWithChannels(ctx, "capped", "general=r team-\*=rw")/e.Token(ctx, "capped")/' "$old/reliability/abuse_test.go"
	grep -q 'e.Token(ctx, "capped")' "$old/reliability/abuse_test.go" || { echo "abuseprecheck: the #15 adaptation no longer applies" >&2; exit 1; }
fi
if ! grep -q 'func (e \*Emulator) TokenWithSub' "$old"/internal/emutest/*.go; then
	cat >"$old/internal/emutest/precheck_shim.go" <<'GO'
package emutest

import "context"

// TokenNamed and TokenWithSub as today's emutest has them (abuseprecheck.sh).
func (e *Emulator) TokenNamed(ctx context.Context, user, name string) (string, error) {
	return e.mint(ctx, map[string]string{"user": user, "name": name})
}

func (e *Emulator) TokenWithSub(ctx context.Context, sub, name string) (string, error) {
	return e.mint(ctx, map[string]string{"user": sub, "name": name})
}
GO
	issuer="$old/internal/localissuer/localissuer.go"
	sed -i 's/if !(r < utf8.RuneSelf \&\& (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._@-", r))) {/if unicode.IsControl(r) {/' "$issuer"
	grep -q 'if unicode.IsControl(r) {' "$issuer" || { echo "abuseprecheck: the #25 issuer adaptation no longer applies" >&2; exit 1; }
	gofmt -l "$old/internal/emutest" >/dev/null
fi

cd "$old"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
npx --no-install cdk synth WsChat-dev -c env=dev --output cdk.out --quiet >/dev/null
go test ./reliability -run Abuse -v -count=1 -timeout 20m >"$tmp/run.log" 2>&1 || true
grep -E 'abuse case|^abuse:' "$tmp/run.log" | sed 's/^ *abuse_[a-z_]*test.go:[0-9]*: //'
grep -Eq '^abuse: .*accepted wrongly [1-9]' "$tmp/run.log" || { echo "abuseprecheck: the old code failed no case (or the run broke)" >&2; tail -40 "$tmp/run.log" >&2; exit 1; }
