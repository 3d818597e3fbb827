# wschat — the front door. `make` (or `make help`) lists the targets.
# Every target runs offline except deploy/destroy/bootstrap/diff, which need AWS credentials.

ENV ?= dev
STACK := WsChat-$(ENV)
# Extra arguments for the CDK CLI, e.g. CDK_ARGS="-c authIssuer=https://... -c authAudiences=abc"
CDK_ARGS ?=
# Extra flags for the local emulator (`go run ./local --help` lists them).
DEV_FLAGS ?=
PORT ?= 3001
# make token: the user id and display name of the token. Not USER/NAME: most
# shells set USER (and WSL sets NAME), which would silently win over a default.
TOKEN_USER ?= dev
TOKEN_NAME ?=
# make token: the token's channels claim, e.g. CHANNELS='general,team-*=r'
# (docs/auth.md); unset mints a token without the claim.
CHANNELS ?=
# make token: the token's lifetime (a Go duration, 1s-24h); unset: 1h.
TOKEN_TTL ?=
BASE ?= HEAD~1
# make publish/notify/disconnect: the channel or user and the text. Against
# the emulator on PORT by default; PUBLISH_URL (a stack's PublishURL output)
# targets a deployed stage, signed with the AWS CLI/SDK credentials chain.
CHANNEL ?= general
TO ?=
TEXT ?=
# make private/add-member/remove-member/members/revoke: the first members of
# a private channel (comma-separated user ids), a members page's cursor, and
# the time before which a user's tokens are refused (RFC 3339; unset: now).
MEMBERS ?=
CURSOR ?=
UNTIL ?=
# make moderate: the op (mute, unmute, ban, unban, role), a mute's length
# (a Go duration), the role to set, and a reason shown with the event.
OP ?=
FOR ?=
ROLE ?=
REASON ?=
PUBLISH_URL ?=
PUBLISH_ID ?=
PUBLISH_FLAGS = -port $(PORT) -stage $(ENV) $(if $(PUBLISH_URL),-url '$(PUBLISH_URL)') $(if $(PUBLISH_ID),-id '$(PUBLISH_ID)')
GO_TEST_FLAGS ?=
# The SDK modules nested in this repository (each its own go.mod): the root
# module's ./... stops at them, so test and lint visit each.
SDK_MODULES := wire client publisher
# The example consumer (its own module, with replace directives to this checkout).
EXAMPLE_MODULES := examples/shop
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION := v1.7.7

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := npx --no-install cdk

.DEFAULT_GOAL := help
.PHONY: help deps build test test-js test-sdk example test-unit test-infra test-e2e cfn-lint lint synth diff diff-review deploy destroy bootstrap dev events invoke token publish notify disconnect private add-member remove-member members revoke moderate bench cost soak clean

help: ## List the targets
	@echo "wschat — make TARGET [ENV=dev|staging|prod]"
	@awk 'BEGIN{FS=":.*## "} /^[a-z0-9-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed ## Install the pinned npm tools (CDK CLI, dynalite, wscat) and Go modules
	go mod download

build: ## Compile every package and cross-compile each Lambda handler into build/
	go build ./...
	@mkdir -p build
	@for fn in lambdas/*/; do \
		name=$$(basename $$fn); \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -buildvcs=false -tags lambda.norpc -ldflags "-s -w" -o build/$$name/bootstrap ./lambdas/$$name || exit 1; \
		echo "build/$$name/bootstrap $$(du -h build/$$name/bootstrap | cut -f1)"; \
	done

test: deps ## Run every test: JS client, unit, dynalite-backed, infra assertions, cfn-lint, emulator end to end
	$(MAKE) test-js
	$(MAKE) synth ENV=dev
	$(MAKE) example
	go test -count=1 -timeout 20m $(GO_TEST_FLAGS) ./...
	$(MAKE) test-sdk
	$(MAKE) cfn-lint

test-js: deps ## Only the JavaScript: the client's tests (node --test), its declarations (tsc --noEmit), the webhook verifier example
	node --test client/js/ examples/webhooks/
	npx --no-install tsc --noEmit -p client/js
	@echo "tsc: client/js/wschat.d.ts and example.ts type-check"

test-sdk: ## Only the SDK modules (wire, client, publisher), each in its own module
	@for m in $(SDK_MODULES); do (cd $$m && go test -count=1 -timeout 10m $(GO_TEST_FLAGS) ./...) || exit 1; done

example: deps ## The consumer example (examples/shop): its tests, then cdk synth into examples/shop/cdk.out (offline, cdk-nag checked) for the emulator test
	cd examples/shop && go test -count=1 -timeout 10m $(GO_TEST_FLAGS) ./...
	cd examples/shop && ../../node_modules/.bin/cdk synth Shop --quiet
	@echo "wrote examples/shop/cdk.out/Shop.template.json"

test-unit: deps ## Only the fast Go tests (no jsii, no emulator)
	go test -timeout 10m $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /infra -e /local -e /reliability -e /tools/diffreview)
	$(MAKE) test-sdk

test-infra: deps ## Only the CDK tests (assertions, golden templates, cdk-nag, diff-review), then cfn-lint
	go test -timeout 10m $(GO_TEST_FLAGS) ./infra/... ./tools/diffreview/...
	$(MAKE) cfn-lint

test-e2e: deps ## Only the emulator and reliability tests (synthesizes dev first)
	$(MAKE) synth ENV=dev
	go test -timeout 15m $(GO_TEST_FLAGS) ./local/... ./reliability/...

cfn-lint: ## Lint every environment's synthesized template with cfn-lint (zero errors; accepted warnings in .cfnlintrc.yaml)
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is not installed (it ships on the project machines)"; exit 1; }
	@for env in dev staging prod; do $(MAKE) --no-print-directory synth ENV=$$env CDK_OUT=cdk.out.lint/$$env >/dev/null || exit 1; done
	cfn-lint cdk.out.lint/*/WsChat-*.template.json
	@echo "cfn-lint: no errors in $$(ls cdk.out.lint/*/WsChat-*.template.json | wc -l) templates"

lint: ## gofmt, go vet, staticcheck, go mod tidy check, actionlint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	go mod tidy -diff
	@for m in $(SDK_MODULES) $(EXAMPLE_MODULES); do \
		echo "lint: module $$m"; \
		(cd $$m && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./... && go mod tidy -diff) || exit 1; \
	done
	go run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

CDK_OUT ?= cdk.out
synth: deps ## Synthesize ENV into cdk.out/WsChat-ENV.template.json (offline, no credentials)
	$(CDK) synth $(STACK) -c env=$(ENV) $(CDK_ARGS) --output $(CDK_OUT) --quiet
	@echo "wrote $(CDK_OUT)/$(STACK).template.json"

diff: deps ## Diff ENV against the deployed stack (needs AWS credentials)
	$(CDK) diff $(STACK) -c env=$(ENV) $(CDK_ARGS)

diff-review: deps ## Offline infrastructure diff of the working tree against BASE (a git ref), per environment
	@# Built, not `go run`: go run turns the tool's exit code 3 (security change) into 1.
	go build -o build/diffreview ./tools/diffreview
	./build/diffreview -base $(BASE) $(DIFF_REVIEW_FLAGS)

deploy: deps ## Deploy ENV (needs AWS credentials and a bootstrapped account)
	$(CDK) deploy $(STACK) -c env=$(ENV) $(CDK_ARGS) $(if $(filter prod,$(ENV)),--require-approval broadening,--require-approval never)

destroy: deps ## Delete ENV's stack (prod keeps its table and logs: RETAIN)
	$(CDK) destroy $(STACK) -c env=$(ENV) $(CDK_ARGS)

bootstrap: deps ## Bootstrap the account/region of ENV for CDK (once per account and region)
	$(CDK) bootstrap -c env=$(ENV) $(CDK_ARGS)

dev: deps ## Run ENV on this machine: emulator + handlers + dynalite + chat page (Ctrl-C stops all)
	$(MAKE) synth ENV=$(ENV)
	go run ./local --env $(ENV) --port $(PORT) --watch $(DEV_FLAGS)

# make events: extra flags of tools/events, e.g. EVENTS_FLAGS="-type message. -json".
EVENTS_FLAGS ?=
events: ## Follow the event buses of the emulator on PORT live (every event put, with the rules it matched)
	@go run ./tools/events -port $(PORT) $(EVENTS_FLAGS)

# make invoke: the function (label or logical id) and its event file (- for stdin).
FN ?= chat
EVENT ?= local/testdata/events/ping.json
INVOKE_FLAGS ?=
invoke: ## Run one function once on ENV's template: make invoke FN=chat EVENT=local/testdata/events/ping.json
	go run ./local invoke $(FN) --env $(ENV) --event $(EVENT) $(INVOKE_FLAGS)

token: ## Print a token for TOKEN_USER (default dev) from the issuer of the emulator on PORT
	@go run ./tools/token -port $(PORT) -user '$(TOKEN_USER)' $(if $(TOKEN_NAME),-name '$(TOKEN_NAME)') $(if $(CHANNELS),-channels '$(CHANNELS)') $(if $(TOKEN_TTL),-ttl '$(TOKEN_TTL)')

publish: ## Post TEXT to CHANNEL through the publish API (signed; PUBLISH_URL for a deployed stage)
	@go run ./tools/publish $(PUBLISH_FLAGS) -channel '$(CHANNEL)' -text '$(TEXT)'

notify: ## Send TEXT as a notice to every connection of user TO
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb notify -to '$(TO)' -text '$(TEXT)'

disconnect: ## Close every connection of user TO (sign-out everywhere, ban)
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb disconnect -to '$(TO)'

private: ## Make CHANNEL private with MEMBERS (comma-separated user ids) on its list
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb private -channel '$(CHANNEL)' -members '$(MEMBERS)'

add-member: ## Put user TO on private CHANNEL's member list
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb add-member -channel '$(CHANNEL)' -to '$(TO)'

remove-member: ## Take user TO off private CHANNEL's list; their connections leave it at once
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb remove-member -channel '$(CHANNEL)' -to '$(TO)'

members: ## Print private CHANNEL's member list (one page; CURSOR for the next)
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb members -channel '$(CHANNEL)' $(if $(CURSOR),-cursor '$(CURSOR)')

revoke: ## Refuse user TO's tokens issued before UNTIL (default now) and close their connections
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb revoke -to '$(TO)' $(if $(UNTIL),-until '$(UNTIL)')

moderate: ## Apply OP (mute FOR=10m, unmute, ban, unban, role ROLE=moderator) to user TO in CHANNEL, as a backend
	@go run ./tools/publish $(PUBLISH_FLAGS) -verb moderate -channel '$(CHANNEL)' -to '$(TO)' -op '$(OP)' $(if $(FOR),-for '$(FOR)') $(if $(ROLE),-role '$(ROLE)') $(if $(REASON),-reason '$(REASON)')

bench: deps ## Benchmarks against the emulator; writes bench/results.{json,md} and a chart (and make cost's files)
	$(MAKE) synth ENV=dev
	go run ./bench $(BENCH_FLAGS)

cost: deps ## What a message costs: the AWS bill per million messages of named workloads, measured on the emulator; writes bench/cost.{json,md,svg}
	$(MAKE) synth ENV=dev
	go run ./bench -only cost $(BENCH_FLAGS)

soak: deps ## Larger reliability runs (load, faults, hostile network) than `make test`
	$(MAKE) synth ENV=dev
	WSCHAT_SOAK=1 go test -count=1 -timeout 60m -run 'Reliability' -v ./reliability/...

clean: ## Remove build outputs, cdk.out and local data
	rm -rf build cdk.out cdk.out.lint .dev examples/shop/cdk.out
