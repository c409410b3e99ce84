"""Schemathesis against the running server's OpenAPI schema: no input, valid or not, may cause a server error (5xx)."""

from __future__ import annotations

import os
from collections import Counter

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from conftest import ADMIN_KEY

CASES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 30}  # per operation: about 1,200 cases in all


def test_no_input_causes_a_server_error(api_url, api_store):
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: list[int] = []
    failures: list[str] = []
    with httpx.Client(base_url=api_url) as client:
        def headers_for(case) -> dict:
            headers = {"X-API-Key": ADMIN_KEY}
            if case.path.startswith("/users/me"):  # a new account per case: one case deleting its account spoils no other
                headers["Authorization"] = f"Bearer {client.post('/users').json()['token']}"
            return headers

        for operation in operations:
            for mode, examples in CASES.items():
                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                          derandomize=not os.environ.get("DRESSUP_FUZZ_RANDOM"))  # CI: the same cases every run
                def call(case):
                    response = case.call(headers=headers_for(case), timeout=60)
                    statuses.append(response.status_code)
                    if response.status_code >= 500:
                        failures.append(f"{case.method} {case.formatted_path} {str(case.body)[:300]} -> {response.status_code}")

                try:
                    call()
                except Unsatisfiable:  # no invalid input exists for an operation without parameters (GET /health)
                    assert mode == GenerationMode.NEGATIVE
                    continue
    print(f"{len(statuses)} cases over {len(operations)} operations, statuses {dict(sorted(Counter(statuses).items()))}")
    assert len(operations) >= 18
    server_log = "".join(log.read_text()[-6000:] for log in api_store.parent.glob("server-*.log"))
    assert not failures, "\n".join(failures[:10]) + "\nthe server's log ends:\n" + server_log
    assert len(statuses) >= 1000, f"only {len(statuses)} cases ran: {Counter(statuses)}"
