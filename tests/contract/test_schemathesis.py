"""The HTTP contract under fuzzing: schemathesis over the served /openapi.json against the real
server (its own embedded PostgreSQL, the real model), time-boxed, with a fixed seed.

Every operation is fuzzed. The failures are listed grouped by check and operation, each with
an example request; the full schemathesis report (with curl lines to reproduce) is printed,
and the exceptions the server logged are counted."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.contract.live import LiveServer

pytestmark = pytest.mark.contract

SEED = 20240601
MAX_TIME_S = 150  # the whole run: coverage, then fuzzing and stateful until it is spent
# One worker: with two, hypothesis parses lambda sources in two threads at once and CPython
# 3.11 can raise "SystemError: AST constructor recursion depth mismatch" (a run error, not a
# finding); one worker also makes a seeded run repeat. Two gave ~25% more cases, no new kind.
WORKERS = 1

# Operations that take an image (multipart files, or base64 in JSON) or exactly one of
# several fields: a schema-valid request can't be a decodable photo of a face, nor express
# "one of", so 400/415/422 answers there are right and positive_data_acceptance would only
# report the fuzzer's limits. Every other check still runs on them.
IMAGE_OPERATIONS = [
    "POST /detect", "POST /extract-embedding", "POST /register", "POST /recognize",
    "POST /verify", "POST /people/{person_id}/faces", "POST /videos",
    "POST /events/{event_id}/photos", "POST /events/{event_id}/match",
    "POST /share/{token}/match",
]

# Operations that take `metadata`: any JSON whose strings hold no NUL at any depth. The
# document says so (MetadataValue) one level deep: a recursive schema would say it all, but
# client generators drop the operations that use one (test_generated_client.py), so a
# fuzzer's schema-valid metadata may nest a NUL deeper and rightly get a 422.
METADATA_OPERATIONS = ["POST /people", "PATCH /people/{person_id}", "POST /events"]
# Approving with add_to_gallery enrolls the track's face, which may be too small: a 422
# that no schema can foresee. A named cluster is decided: naming, merging, hiding or
# taking a face out of it is a 409, and a cluster merged with itself a 400. A webhook's or
# a stream's URL must pass the SSRF rules (400 otherwise), which no schema can say.
RULE_OPERATIONS = ["POST /review/{item_id}/approve", "POST /webhooks", "POST /streams",
                   "POST /clusters/{cluster_id}/name",
                   "POST /clusters/{cluster_id}/merge", "PATCH /clusters/{cluster_id}",
                   "DELETE /clusters/{cluster_id}/faces/{face_id}"]

CHECKS = [
    "not_a_server_error",            # no 5xx
    "status_code_conformance",       # every status is declared
    "response_schema_conformance",   # every body matches its declared schema
    "content_type_conformance",      # the declared media type is sent
    "response_headers_conformance",  # declared headers are sent and valid
    "negative_data_rejection",       # schema-invalid requests get a 4xx
    "positive_data_acceptance",      # schema-valid requests are not refused (see above)
    "use_after_free",                # a deleted resource stays gone
    "ensure_resource_availability",  # a created resource can be read back
    "unsupported_method",            # undeclared methods get 405
    "allow_header_conformance",      # a 405's Allow lists the declared methods
    "missing_required_header",       # a required header (an API key, later) is enforced
    "ignored_auth",                  # declared auth is enforced (once there is any)
]


def _config() -> str:
    """schemathesis.toml: the checks here, not on the command line, where they would
    override the per-operation settings."""
    lines = ["request-timeout = 30", "", "[checks]", "enabled = false"]
    lines += [f"{check}.enabled = true" for check in CHECKS]
    lines += ["", "[[operations]]",
              f"include-name = "
              f"{json.dumps(IMAGE_OPERATIONS + METADATA_OPERATIONS + RULE_OPERATIONS)}",
              "checks.positive_data_acceptance.enabled = false"]
    # The stateful phase links responses to parameters by name, and carries a null
    # event_id (a key or photo of no event) into /events/{event_id} as the text "None":
    # a value of the fuzzer's links, not a schema-valid request.
    lines += ["", "[phases.stateful.checks]", "positive_data_acceptance.enabled = false"]
    return "\n".join(lines) + "\n"


def _failures(ndjson: Path) -> dict[tuple[str, str], list[str]]:
    """(check, operation) -> one line per failing request: status, request, response."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line in ndjson.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                interaction = recorder.get("interactions", {}).get(case_id, {})
                request = interaction.get("request", {})
                response = interaction.get("response") or {}
                body = base64.b64decode((response.get("content") or {}).get("$base64", ""))
                message = failure["message"].replace("\n", " ").strip()
                found[(f"{failure['code']} {failure['title']}", failure["operation"])].append(
                    f"{response.get('status_code')} <- {request.get('method')} "
                    f"{request.get('uri')} {body.decode('utf-8', 'replace')[:120]!r}"
                    + (f" [{message[:160]}]" if message else ""))
    return found


def _summary(found: dict[tuple[str, str], list[str]], examples: int = 2) -> str:
    lines = []
    for (check, operation), cases in sorted(found.items()):
        lines.append(f"{check} | {operation} | {len(cases)} x")
        lines += [f"    {case}" for case in dict.fromkeys(cases)][:examples]
    return "\n".join(lines)


@pytest.mark.timeout(MAX_TIME_S + 240)
def test_openapi_contract(live_server: LiveServer, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config())
    reports = tmp_path / "reports"
    headers = [arg for name, value in live_server.headers.items()
               for arg in ("--header", f"{name}: {value}")]
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{live_server.url}/openapi.json", "--seed", str(SEED),
               "--max-time", str(MAX_TIME_S), "--workers", str(WORKERS),
               "--generation-database", "none", "--no-color", "--report", "ndjson",
               "--report-dir", str(reports), *headers]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=MAX_TIME_S + 180, check=False)
    print(result.stdout, result.stderr, sep="\n")  # the full report, shown on failure
    ndjson = next(reports.glob("*.ndjson"), None)
    found = _failures(ndjson) if ndjson else {}
    summary = result.stdout.rsplit("= SUMMARY =", 1)[-1].strip()
    assert result.returncode == 0, (
        f"schemathesis exited {result.returncode}\n\n"
        f"failures by check and operation:\n{_summary(found) or '(none recorded)'}\n\n"
        f"exceptions in the server log:\n{live_server.errors_logged() or '(none)'}\n\n"
        f"{summary[-3000:]}")
