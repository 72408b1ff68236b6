"""schemathesis against `/openapi.json`: generated requests to every operation, signed in as an
administrator (so they get past the 401s to the handlers), bounded in examples. No response
may be a 5xx or break the schema the app itself publishes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, checks

from infra.http.app import create_app
from infra.runtime import Runtime
from tests.conftest import TEST_ADMIN, add_staff, make_settings
from tests.http_support import COUNCIL, PASSWORD

EXAMPLES = 25  # per operation: a few minutes in all, on the embedded default
# no 5xx, and every answer as the schema says (status, content type, body, headers); a rule's
# refusal of generated data (an unknown category, say) is a documented 4xx, not a failure
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    settings_ = make_settings(tmp_path_factory.mktemp("fuzz") / "data")
    add_staff(settings_, COUNCIL, {})
    rt = Runtime(settings_)
    try:
        rt.credentials.set_password(COUNCIL, TEST_ADMIN, PASSWORD, TEST_ADMIN, rt.clock())
        token, _ = rt.credentials.issue_token(
            COUNCIL, TEST_ADMIN, TEST_ADMIN, rt.clock(), timedelta(hours=1)
        )
        app = create_app(rt, [COUNCIL], public_burst=1_000_000)
        yield app, {"Authorization": f"Bearer {token}"}
    finally:
        rt.close()


def test_no_operation_answers_a_5xx_or_breaks_its_own_schema(
    served: tuple[Any, dict[str, str]],
) -> None:
    app, headers = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # the staff API's, at least
    failures: list[str] = []
    for operation in operations:
        if operation.path == "/api/v1/token" and operation.method.upper() == "DELETE":
            continue  # revoking the token would sign the rest of the run out

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Case) -> None:
            case.call_and_validate(headers=dict(headers), checks=CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as failed:  # noqa: BLE001 - gather them all
            failures.append(f"{operation.method.upper()} {operation.path}: {failed}")
    assert not failures, "\n\n".join(failures)


def test_the_published_schema_names_every_staff_operation(
    served: tuple[Any, dict[str, str]],
) -> None:
    paths = served[0].openapi()["paths"]
    assert {
        "/api/v1/requests",
        "/api/v1/requests/{reference}",
        "/api/v1/queue",
        "/api/v1/token",
    } <= set(paths)
