"""Property-based fuzzing of the live service against its own OpenAPI schema (schemathesis): no 5xx, every response
matches the documented status codes, content types and schemas."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="API fuzzing needs schemathesis (medrnn's [test] extra)")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def schema(live_server: str):  # noqa: ANN201
    return schemathesis.openapi.from_url(f"{live_server}/openapi.json")


def test_fuzz_api(schema, live_server: str) -> None:  # noqa: ANN001
    """Every operation with generated (mostly invalid) bodies and parameters; predict aimed at the molecule model too."""
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # noqa: ANN001
            if "name" in (case.path_parameters or {}) and hash(repr(case.body)) % 2 == 0:
                case.path_parameters["name"] = "molecules"
            case.call_and_validate(base_url=live_server, checks=CHECKS)
            calls.append(case.operation.path)

        strategy = operation.as_strategy()
        from hypothesis import given

        try:
            given(strategy)(check)()
        except Exception as err:  # collect per operation, report all
            failures.append(f"{operation.method.upper()} {operation.path}: {err}")
    assert not failures, "\n\n".join(failures)
    assert calls.count("/models/{name}/predict") >= 10, calls  # the generator really ran
