"""The data keys: sealing, opening, erasure by destroying a key, blind indexes, and the one
disclosure rule — on the embedded SQLite file and on the real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from commands.disclosure import Disclosure
from domain.permissions import Viewer
from domain.personal import ERASED, REDACTED, is_sealed
from infra.cli import EXIT_CODES
from infra.keys import KeyExists, KeyStoreUnavailable, KeyVault, normalise
from infra.runtime import make_engine

NOW = datetime(2026, 3, 2, tzinfo=UTC)
ANN = uuid.UUID("00000000-0000-4000-8000-000000000a11")
BO = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


@pytest.fixture(params=["sqlite", "postgres"])
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> KeyVault:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        url = request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg2://")
        return KeyVault(make_engine(url, pre_ping=False), lazy_new_keys=True)  # as `Runtime` does
    return KeyVault(make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}", secure_delete=True))


def test_a_sealed_value_opens_to_its_text_and_says_nothing_of_it(vault: KeyVault) -> None:
    token = vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee")
    assert token is not None and is_sealed(token) and "Ann" not in token
    assert vault.opener().open(token) == "Ann Lee"
    assert vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee") != token  # fresh nonce


def test_destroying_a_key_erases_every_value_sealed_with_it_and_no_other(vault: KeyVault) -> None:
    ann = vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee")
    bo = vault.sealer(BO, "upper-lachlan", NOW).seal("Bo Example")
    assert ann and bo

    assert vault.destroy(ANN) is True
    assert vault.destroy(ANN) is False  # idempotent

    assert vault.opener().open(ann) is None
    assert vault.opener().open(bo) == "Bo Example"


def test_a_tampered_value_fails_authentication(vault: KeyVault) -> None:
    token = vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee")
    assert token is not None
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(ValueError, match="authentication"):
        vault.opener().open(tampered)


def test_a_value_moved_under_another_key_id_fails_authentication(vault: KeyVault) -> None:
    vault.sealer(BO, "upper-lachlan", NOW)
    token = vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee")
    assert token is not None
    with pytest.raises(ValueError, match="authentication"):
        vault.opener().open(token.replace(str(ANN), str(BO)))


def test_a_customer_is_found_by_phone_email_or_name_as_typed_differently(
    vault: KeyVault,
) -> None:
    vault.index(
        "upper-lachlan",
        "UL-C000001",
        {"name": "Ann  Lee", "phone": "0400 000 000", "email": "Ann@Example.org"},
    )
    vault.index("upper-lachlan", "UL-C000002", {"name": "Bo Example", "phone": "0411 111 111"})
    vault.index("canterbury", "CA-C000001", {"phone": "0400 000 000"})

    assert vault.find("upper-lachlan", "phone", "+61 400 000 000") == ["UL-C000001"]
    assert vault.find("upper-lachlan", "email", "ann@example.ORG") == ["UL-C000001"]
    assert vault.find("upper-lachlan", "name", "ann lee") == ["UL-C000001"]
    assert vault.find("upper-lachlan", "phone", "0400 000 001") == []

    vault.unindex("upper-lachlan", "UL-C000001")
    assert vault.find("upper-lachlan", "phone", "0400 000 000") == []
    assert vault.find("canterbury", "phone", "0400 000 000") == ["CA-C000001"]


def test_a_new_customers_key_and_index_rows_are_written_together_and_never_over_another(
    vault: KeyVault,
) -> None:
    ann = {"name": "Ann Lee", "phone": "0400 000 000", "email": None, "address": "3 Spring St"}
    token = vault.new_customer(ANN, "upper-lachlan", "UL-C000001", ann, NOW).seal("Ann Lee")
    assert token is not None and vault.opener().open(token) == "Ann Lee"
    assert vault.find("upper-lachlan", "phone", "0400000000") == ["UL-C000001"]
    assert vault.created_at(ANN) == NOW
    with pytest.raises(KeyExists):  # the same key again, for another customer: refused whole
        vault.new_customer(ANN, "upper-lachlan", "UL-C000002", {"name": "Bo Li"}, NOW)
    with pytest.raises(KeyExists):
        vault.sealer(ANN, "upper-lachlan", NOW, new=True)
    assert vault.opener().open(token) == "Ann Lee"  # the key untouched
    assert vault.find("upper-lachlan", "name", "Bo Li") == []
    assert vault.holds(ANN, "upper-lachlan", "UL-C000001")
    assert not vault.holds(BO, "upper-lachlan", "UL-C000002")
    vault.destroy(ANN)
    vault.unindex("upper-lachlan", "UL-C000001")
    assert not vault.holds(ANN, "upper-lachlan", "UL-C000001")
    assert vault.indexed("upper-lachlan") == []


def test_the_index_holds_keyed_digests_not_the_values(vault: KeyVault) -> None:
    vault.index("upper-lachlan", "UL-C000001", {"phone": "0400 000 000", "name": "Ann Lee"})
    with vault.engine.connect() as conn:
        stored = str(conn.execute(sa.text("SELECT * FROM crm_customer_index")).all())
    assert "0400" not in stored and "Ann" not in stored and "400000000" not in stored


def test_phone_numbers_compare_by_their_digits() -> None:
    assert normalise("phone", "+61 400 000 000") == normalise("phone", "(0400) 000-000")


def reader(user_id: str, role: str) -> Viewer:
    return Viewer(user_id=user_id, role=role, roles=frozenset({role}), teams=frozenset())


def test_disclosure_opens_for_a_permitted_reader_logs_it_and_redacts_for_others(
    vault: KeyVault,
) -> None:
    sealer = vault.sealer(ANN, "upper-lachlan", NOW)
    record = {
        "customer": {
            "name": sealer.seal("Ann Lee"),
            "preferred_contact": "phone",
            "number": "UL-C000001",
            "phone": None,
        },
        "description": sealer.seal("Pothole outside my house"),
        "team": "roads",
    }

    desk = Disclosure(
        vault, "upper-lachlan", reader("cs.officer", "customer-service"), "crm show", NOW
    )
    shown = desk.reveal(record, allowed=True, customer="UL-C000001")
    assert shown["customer"]["name"] == "Ann Lee" and shown["team"] == "roads"
    assert shown["customer"]["number"] == "UL-C000001"

    analyst = Disclosure(vault, "upper-lachlan", reader("a.nalyst", "analyst"), "crm show", NOW)
    hidden = analyst.reveal(record, allowed=False, customer="UL-C000001")
    assert hidden["customer"]["name"] == REDACTED and hidden["description"] == REDACTED
    pseudonym = hidden["customer"]["number"]
    assert pseudonym.startswith("anon-") and "C000001" not in pseudonym
    assert (
        analyst.reveal(record, allowed=False, customer="UL-C000001")["customer"]["number"]
        == pseudonym
    )  # stable: repeat callers still count as one

    log = vault.access_log("upper-lachlan", "UL-C000001")
    assert [(e["user_id"], e["role"], e["via"]) for e in log] == [
        ("cs.officer", "customer-service", "crm show")
    ]
    assert "Ann" not in str(log)

    vault.destroy(ANN)
    after = Disclosure(
        vault, "upper-lachlan", reader("cs.officer", "customer-service"), "crm show", NOW
    ).reveal(record, allowed=True, customer="UL-C000001")
    assert after["customer"]["name"] == ERASED and after["description"] == ERASED
    assert len(vault.access_log("upper-lachlan", "UL-C000001")) == 1  # nothing was read


def test_a_destroyed_key_leaves_no_copy_in_the_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    vault = KeyVault(make_engine(f"sqlite:///{path}", secure_delete=True))
    vault.sealer(ANN, "upper-lachlan", NOW)
    vault.sealer(BO, "upper-lachlan", NOW)
    with vault.engine.connect() as conn:
        key = conn.execute(
            sa.text("SELECT key FROM crm_data_keys WHERE key_id = :k"), {"k": str(ANN)}
        ).scalar_one()
    vault.engine.dispose()
    assert key in path.read_bytes()  # the test can see a key where one is

    vault.destroy(ANN)
    vault.engine.dispose()

    left = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key not in left


def test_without_secure_delete_a_destroyed_key_would_stay_in_the_file(tmp_path: Path) -> None:
    """The control for the test above: it can see a key left behind in free pages."""
    path = tmp_path / "keys.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    sa.event.listen(
        engine, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA secure_delete = OFF")
    )
    vault = KeyVault(engine)
    vault.sealer(ANN, "upper-lachlan", NOW)
    vault.sealer(BO, "upper-lachlan", NOW)
    with engine.connect() as conn:
        key = conn.execute(
            sa.text("SELECT key FROM crm_data_keys WHERE key_id = :k"), {"k": str(ANN)}
        ).scalar_one()
    vault.destroy(ANN)
    engine.dispose()
    assert key in path.read_bytes()


@pytest.mark.postgres
def test_a_dropped_key_store_connection_is_read_again_or_one_clear_line(pg_url: str) -> None:
    """Without a ping per checkout, a connection the server dropped is found dead on use: a
    read runs again on a fresh one; a write fails (here before anything was sent) with one
    line the CLI prints as it is (exit 5)."""
    url = pg_url.replace("postgresql://", "postgresql+psycopg2://")
    vault = KeyVault(make_engine(url, pre_ping=False))
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def drop_the_pooled_connection() -> None:
        with vault.engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        # Autocommit: each poll a transaction of its own, so it sees pg_stat_activity afresh.
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            deadline = time.monotonic() + 10
            while conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar_one():
                assert time.monotonic() < deadline, "the backend lingers"

    try:
        token = vault.sealer(ANN, "upper-lachlan", NOW).seal("Ann Lee")
        assert token is not None
        drop_the_pooled_connection()
        assert vault.opener().open(token) == "Ann Lee"  # read again on a fresh connection
        drop_the_pooled_connection()
        with pytest.raises(KeyStoreUnavailable) as lost:
            vault.sealer(BO, "upper-lachlan", NOW, new=True)
        message = str(lost.value)
        assert "\n" not in message and message.startswith("the key store's connection was lost")
        assert message.endswith(": try again")
        assert next(code for kind, code in EXIT_CODES if isinstance(lost.value, kind)) == 5
        assert vault.created_at(BO) is None  # nothing written; the store works again
        assert vault.sealer(BO, "upper-lachlan", NOW, new=True).seal("Bo") is not None
    finally:
        vault.engine.dispose()
        admin.dispose()
