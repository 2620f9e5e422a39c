# faultline — `make demo` runs the experiments against the local stack; `make test` runs the tests.
# Every target installs what it needs first (tools/setup.sh: idempotent, cached in ~/.cache/faultline).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
# The provisioned Node (only present when the machine's is older than 22.22) and the pinned tools come first.
export PATH := $(ROOT)/tools/node/bin:$(ROOT)/tools/bin:$(ROOT)/node_modules/.bin:$(PATH)

.PHONY: help setup setup-k8s k8s-up k8s-down docker-up docker-down images demo bench test test-unit test-integration lint typecheck schemas clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

setup: ## install node, npm packages, toxiproxy, k6 and debian packages (idempotent)
	@bash tools/setup.sh all

setup-k8s: setup ## build the Kubernetes control plane and kwok once (cached; a cold build takes about 7 minutes)
	@bash tools/setup.sh k8s

k8s-up: setup-k8s ## start a local control plane with 9 simulated GPU nodes (.faultline/k8s; --target kubernetes)
	@node bin/faultline.js k8s up

k8s-down: ## stop the local control plane and delete its data
	@node bin/faultline.js k8s down

docker-up: ## install docker.io and start dockerd when no engine answers (for --target testcontainers)
	@bash tools/images.sh up

docker-down: ## stop the dockerd that docker-up started (an engine it found running is left alone)
	@bash tools/images.sh down

images: setup docker-up ## build the testcontainers target's images here, from images/*/Dockerfile.local (cached by content)
	@bash tools/images.sh images

demo: setup ## run the shipped experiments against the local stack; writes reports/index.html (≈ 15 min)
	@echo "make: demo — each experiment starts the local stack, runs as shipped, stops it"
	@node bin/faultline.js run experiments/ --target local --out reports --junit reports/junit.xml

bench: setup ## benchmarks (tables, ratios against a baseline in the same run)
	@npm run -s bench

lint: setup ## eslint
	@echo "make: lint"; eslint .

typecheck: setup ## tsc --noEmit (strict)
	@echo "make: typecheck"; tsc --noEmit -p .

schemas: setup ## regenerate schemas/*.json and docs/fault-kinds.md from the zod schemas and the fault catalog
	@node bin/faultline.js schema --kind experiment > schemas/experiment.schema.json
	@node bin/faultline.js schema --kind target > schemas/target.schema.json
	@node bin/faultline.js schema --kind scenario > schemas/scenario.schema.json
	@node bin/faultline.js schema --kind gameday > schemas/gameday.schema.json
	@node bin/faultline.js schema --kind run > schemas/run.schema.json
	@node bin/faultline.js kinds > docs/fault-kinds.md

test-unit: setup
	@mocha 'test/unit/**/*.test.ts'

test-integration: setup
	@mocha 'test/integration/**/*.test.ts'

test: setup setup-k8s images lint typecheck ## lint, typecheck, then every test (unit, integration with real servers, e2e)
	@echo "make: tests"; rc=0; mocha || rc=$$?; bash tools/images.sh down; exit $$rc

clean: ## remove run output (reports) and local state; keeps the tool cache
	-@node bin/faultline.js k8s down >/dev/null 2>&1
	rm -rf reports/*/ .faultline test-results
