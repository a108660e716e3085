# Lambda Architecture reference pipeline: Kafka -> (S3 + Redshift batch, Spark speed) -> serving view.
# `make help` lists the targets. Settings come from the environment or .env (see .env.example).

SHELL := /bin/bash
.DEFAULT_GOAL := help
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

export PYTHONUNBUFFERED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The CA bundle the Docker image build trusts for its downloads (a BuildKit secret): the
# host's, so builds work behind TLS-inspecting proxies too; /dev/null = the image's own CAs.
BUILD_CA_BUNDLE ?= $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),/etc/ssl/certs/ca-certificates.crt,/dev/null)
export BUILD_CA_BUNDLE

.PHONY: help deps venv jars setup local-up local-down local-tls local-status spark-up spark-down spark-status docker-prepare docker-engine-stop up down init redshift-sql env run-producer batch-once batch recompute rebuild-views batch-reset batch-ack-loss speed query lake-query verify lake-ddl status dashboard monitoring-up monitoring-down monitoring-status monitoring-rules monitoring-files demo bench chaos docs lint test test-unit test-integration test-docker clean

help: ## List the targets
	@echo "usage: make TARGET   (settings: environment or .env, see .env.example)"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-18s %s\n", $$1, $$2}'

deps: ## Install system packages if missing (PostgreSQL, Java 17, Maven, kcat, Chromium, Prometheus; apt as root)
	@bash scripts/install-system-deps.sh

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or set PYTHON=)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (pinned in pyproject.toml)"
	@$(PY) -m pip install -q --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install -q -e '.[dev]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

venv: $(VENV_STAMP) ## Create the virtualenv with the pinned Python packages

jars: venv ## Fetch the Kafka, S3Proxy and Spark Kafka-connector jars from Maven Central (cached in ~/.m2)
	@$(PY) -m local_stack jars

setup: deps venv jars ## Everything the stack and the tests need, installed

# The speed job on Spark 3.5 (Scala 2.12: the Spark of Amazon EMR 7.x) beside the project's
# own pyspark: a second virtualenv with pyspark $(SPARK35_VERSION) and the same other pins, and
# the connector's Scala 2.12 jars in their own folder (the job picks the folder of the
# Spark it runs on). `make test` runs SPARK35_TESTS in it after the main run; a venv that
# cannot be built fails it.
.PHONY: venv-spark35 test-spark35
SPARK35_VERSION := 3.5.7
SPARK35_VENV ?= .venv-spark35
SPARK35_PY := $(SPARK35_VENV)/bin/python
# Named after the version, so that a new pin installs again.
SPARK35_STAMP := $(SPARK35_VENV)/.installed-$(SPARK35_VERSION)
# The speed job's unit tests, MSK IAM's jars in Spark, and events in Kafka -> speed views
# exact across a SIGKILL (the end-to-end test of the speed layer that proves the most).
SPARK35_TESTS ?= tests/unit/test_speed_layer.py tests/unit/test_speed_on_cluster.py \
	tests/unit/test_spark_classpath.py tests/integration/test_msk_iam_spark.py \
	tests/integration/test_speed_layer.py::test_speed_view_is_exact_across_a_sigkill_and_a_horizon_move

$(SPARK35_STAMP): pyproject.toml scripts/requirements.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or set PYTHON=)" >&2; exit 1; }
	@test -x $(SPARK35_PY) || $(PYTHON) -m venv $(SPARK35_VENV)
	@echo "installing pyspark==$(SPARK35_VERSION) and the other pinned packages into $(SPARK35_VENV)"
	@$(PYTHON) scripts/requirements.py --without pyspark --dev pytest pytest-timeout > $(SPARK35_VENV)/requirements.txt
	@{ $(SPARK35_PY) -m pip install -q --upgrade pip && \
		$(SPARK35_PY) -m pip install -q pyspark==$(SPARK35_VERSION) -r $(SPARK35_VENV)/requirements.txt && \
		$(SPARK35_PY) -m pip install -q --no-deps -e . ; } > $(SPARK35_VENV)/pip.log 2>&1 || { cat $(SPARK35_VENV)/pip.log; exit 1; }
	@touch $@

venv-spark35: $(SPARK35_STAMP) ## A second virtualenv, .venv-spark35: pyspark 3.5 and its Scala 2.12 Kafka connector (Amazon EMR 7.x's Spark)
	@$(SPARK35_PY) -m local_stack jars spark-kafka-3.5

test-spark35: setup venv-spark35 ## The speed job on Spark 3.5: its unit tests, MSK IAM's jars in Spark, events in Kafka -> speed views (starts the local stack if needed)
	@$(SPARK35_PY) -m pytest $(SPARK35_TESTS) $(PYTEST_ARGS)

local-up: setup ## Start the local stack (Kafka KRaft, PostgreSQL, S3 server); no-op if running
	@$(PY) -m local_stack up

local-down: venv ## Stop the local stack (data stays in LOCAL_STACK_DIR, default .stack/)
	@$(PY) -m local_stack down

local-tls: venv ## Write the local stack's own CA and server certificate (LOCAL_STACK_DIR/tls) for its TLS mode
	@$(PY) -m local_stack tls

local-status: venv ## Health of each local service; exits non-zero if one is not healthy
	@$(PY) -m local_stack status

spark-up: venv ## Start a Spark standalone cluster: a master (spark://127.0.0.1:SPARK_MASTER_PORT) and SPARK_WORKERS workers
	@$(PY) -m local_stack spark-up

spark-down: venv ## Stop the Spark standalone cluster (its logs stay in LOCAL_STACK_DIR/spark)
	@$(PY) -m local_stack spark-down

spark-status: venv ## Health of the Spark master and each worker; exits non-zero if one is not healthy
	@$(PY) -m local_stack spark-status

docker-prepare: ## Docker: an engine, Compose v2 and debian:bookworm-slim, each made here if missing (as root)
	@bash docker/prepare.sh all

docker-engine-stop: ## Docker: stop the dockerd that docker-prepare started (images stay cached)
	@bash docker/prepare.sh stop

up: docker-prepare ## Docker: build the image and start the whole pipeline (Kafka, S3, PostgreSQL, jobs, a live stream)
	@docker compose up -d --build --wait
	@echo "pipeline running on the local stack's ports. Serving view: make query (or docker compose exec dashboard python -m serving_layer query)"
	@echo "health: make status; logs: docker compose logs -f; stop: make down (data kept; docker compose down -v drops it)"

down: ## Docker: stop and remove the containers (data stays in the volumes; docker compose down -v drops it)
	@docker compose down

init: venv ## Create the Kafka topic, the bucket and the warehouse tables if missing (idempotent)
	@$(PY) -m lambda_common init

redshift-sql: venv ## Dry run: every SQL statement the Redshift path sends (init, a batch cycle, a speed micro-batch), values as placeholders; OUT=file, PHASE=init|batch|speed
	@$(PY) -m lambda_dryrun $(if $(OUT),--out "$(OUT)") $(if $(PHASE),--phase $(PHASE))

env: venv ## Print the effective settings as KEY=VALUE, secrets masked
	@$(PY) -m lambda_common env

run-producer: venv ## Produce events: SOURCE=synthetic|x|replay COUNT RATE SEED FILE (+ BACKFILL START END DUPLICATES LATE WORKERS RULE)
	@$(PY) -m ingestion --source $(or $(SOURCE),synthetic) \
		$(if $(COUNT),--count $(COUNT)) $(if $(RATE),--rate $(RATE)) $(if $(SEED),--seed $(SEED)) \
		$(if $(FILE),--file $(FILE)) $(if $(BACKFILL),--backfill $(BACKFILL)) \
		$(if $(START),--start $(START)) $(if $(END),--end $(END)) \
		$(if $(DUPLICATES),--duplicates $(DUPLICATES)) $(if $(LATE),--late $(LATE)) \
		$(if $(WORKERS),--workers $(WORKERS)) $(if $(RULE),--rule "$(RULE)")

batch-once: venv ## One batch cycle: Kafka -> S3 -> warehouse -> batch view -> horizon (PARTITIONS=0,1 or 0/2)
	@$(PY) -m batch_layer once $(if $(PARTITIONS),--partitions $(PARTITIONS))

batch: venv ## Batch cycles every BATCH_INTERVAL until Ctrl-C (failed cycles retried with back-off)
	@$(PY) -m batch_layer run $(if $(PARTITIONS),--partitions $(PARTITIONS))

recompute: venv ## Rebuild raw_tweets, raw_hashtags, the load ledger and every batch view from the S3 master dataset alone (asks first; YES=1 for scripts)
	@$(PY) -m batch_layer recompute $(if $(YES),--yes)

rebuild-views: venv ## Rebuild every batch view in full from the raw tables (a cycle rebuilds only the hours it touched)
	@$(PY) -m batch_layer rebuild-views

batch-reset: venv ## After the topic was deleted and re-created: archive the old plans, start the group anew, land the new topic
	@$(PY) -m batch_layer reset $(if $(YES),--yes)

batch-ack-loss: venv ## Acknowledge the offset ranges retention deleted before they were landed (make status stops FAILing on them)
	@$(PY) -m batch_layer ack-loss $(if $(YES),--yes)

speed: venv ## The Spark streaming job keeping every speed table (SPEED_TRIGGER, SPEED_CHECKPOINT, SPARK_MASTER: local[*] or spark://127.0.0.1:7077 after spark-up)
	@$(PY) -m speed_layer

# Free text reaches the command through the environment, never through the shell's
# parsing of the recipe, so quotes and semicolons in SQL or a location arrive intact.
query: export QUERY_SQL := $(SQL)
query: export QUERY_LOCATION := $(LOCATION)
query: export QUERY_HASHTAG := $(HASHTAG)
query: export QUERY_PARAM := $(PARAM)
query: venv ## Serving views: a named query (NAME=, LOCATION= HASHTAG= HOURS= DAYS= LIMIT=, any other PARAM=name=value) or SQL="..."; FORMAT=table|csv|json
	@$(PY) -m serving_layer query $(if $(NAME),--name $(NAME)) $(if $(SQL),--sql "$$QUERY_SQL") \
		$(if $(LOCATION),--param "location=$$QUERY_LOCATION") $(if $(HASHTAG),--param "hashtag=$$QUERY_HASHTAG") \
		$(if $(PARAM),--param "$$QUERY_PARAM") $(if $(HOURS),--param hours=$(HOURS)) \
		$(if $(DAYS),--param days=$(DAYS)) $(if $(LIMIT),--param limit=$(LIMIT)) \
		$(if $(FORMAT),--format $(FORMAT)) $(if $(LIST),--list)

# As for make query: the SQL reaches the command through the environment, intact.
lake-query: export LAKE_SQL := $(SQL)
lake-query: venv ## SQL over the master dataset in S3, in place (DuckDB): SQL="..." or NAME= (LIST=1 lists them); tables master_tweets, master_rejects; FORMAT=table|csv|json
	@$(PY) -m batch_layer.lake query $(if $(SQL),--sql "$$LAKE_SQL") $(if $(NAME),--name $(NAME)) \
		$(if $(LIST),--list) $(if $(FORMAT),--format $(FORMAT))

verify: venv ## Every view recomputed from the S3 master dataset by DuckDB and compared row by row with its batch table (SINCE= UNTIL= days); exits 1 on any difference
	@$(PY) -m batch_layer.lake verify $(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL))

lake-ddl: venv ## The Athena/Glue and Redshift Spectrum DDL of the master dataset on stdout (DATABASE= Glue database, SCHEMA= Spectrum schema)
	@$(PY) -m batch_layer.lake ddl $(if $(DATABASE),--database $(DATABASE)) $(if $(SCHEMA),--schema $(SCHEMA))

status: venv ## Lag, horizon, freshness, row counts, rejects: OK/WARN/FAIL each; exits 1 if any FAIL
	@$(PY) -m serving_layer status

dashboard: venv ## The web dashboard and Prometheus /metrics on 127.0.0.1:DASHBOARD_PORT (8050), read as QUERY_DSN
	@$(PY) -m serving_layer dashboard

monitoring-up: venv ## Prometheus on 127.0.0.1:PROMETHEUS_PORT (9090) scraping the dashboard, with the alert rules for your settings (data in LOCAL_STACK_DIR/prometheus)
	@$(PY) -m lambda_monitoring up

monitoring-down: venv ## Stop the Prometheus of monitoring-up (its data stays in LOCAL_STACK_DIR/prometheus)
	@$(PY) -m lambda_monitoring down

monitoring-status: venv ## Health of the Prometheus of monitoring-up; exits non-zero if it is not healthy
	@$(PY) -m lambda_monitoring status

monitoring-rules: venv ## The Prometheus alert rules for your settings, for a Prometheus of your own (OUT=file, else stdout)
	@$(PY) -m lambda_monitoring rules $(if $(OUT),--out "$(OUT)")

monitoring-files: venv ## Write monitoring/alerts.yml (the default settings' rules) and the Grafana dashboard again from code
	@$(PY) -m lambda_monitoring files

demo: local-up ## The whole pipeline on the local stack, printing the serving view, with the dashboard (DURATION=2m)
	@$(PY) -m lambda_demo $(if $(DURATION),--duration $(DURATION))

bench: local-up ## Benchmarks on the local stack: table on stdout, JSON in bench/results/latest.json
	@$(PY) -m bench.producer

# mkdocs.yml sets strict and validation: a link to a missing page, a missing #anchor (from
# the README too: scripts/docs_hooks.py makes it the front page) or a missing repository
# file fails the build. Never -q (it drops the warnings strict counts) nor -v (MkDocs 1.6.1
# then skips the anchor checks).
docs: venv ## Build the documentation site into site/ (README.md its front page, docs/ its pages); a broken link or anchor fails it
	@$(VENV)/bin/mkdocs build

lint: venv ## ruff and mypy
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

test-unit: venv ## Unit tests only (no services)
	@$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-integration: setup ## Integration tests against the real services (starts the local stack if needed)
	@$(PY) -m pytest -m "integration or security" $(PYTEST_ARGS)

test-docker: venv docker-prepare ## The compose stack built from debian:bookworm-slim and checked end to end under a real engine
	@$(PY) -m pytest -m docker tests/docker $(PYTEST_ARGS)

# The Docker path is prepared first (visibly: the first time builds Compose and the base
# image); where it cannot be prepared here (exit 3: no root, no engine), the Docker test
# skips with the reason, and everything else still runs.
test: setup lint docs ## Install everything needed, lint, build the docs, and run all tests (Docker end to end; fault scenarios at quick size)
	@bash docker/prepare.sh all || [ $$? -eq 3 ]
	@$(PY) -m pytest -m "not chaos_only" --durations=8 $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-spark35 PYTEST_ARGS=

chaos: setup ## Every fault-injection scenario at full size; one PASS/FAIL line per scenario
	@CHAOS_FULL=1 $(PY) -m pytest tests/chaos -m chaos -q $(PYTEST_ARGS)

clean: ## Remove the virtualenvs, caches and the docs site (not the stack's data: see local-down)
	rm -rf $(VENV) $(SPARK35_VENV) site .pytest_cache .mypy_cache .ruff_cache *.egg-info
