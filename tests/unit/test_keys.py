"""The key vault: a data key is created once and read back the same, and one that must be new
is never overwritten; a lodgement reads a new key never and an existing one once; the council's
index key is read once per process; finding and erasing, also what a failed registration left."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commands import customers
from commands import requests as cmds
from commands.customers import (
    CustomerNotFound,
    EraseCustomer,
    erase_customer,
    erase_unsaved_registrations,
    find_customers,
)
from domain.aggregates.customer import customer_id
from domain.aggregates.service_request import request_id
from domain.lodgement import Intake
from domain.personal import key_of
from domain.values import Actor, Channel, Customer
from infra.keys import KeyExists, KeyVault
from infra.runtime import Runtime, make_engine

COUNCIL = "upper-lachlan"
AT = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Australia/Sydney"))
OFFICER = Actor(id="jsmith", role="officer")
ANN = Customer(
    name="Ann Lee",
    phone="0400 000 000",
    email="ann@example.org",
    address="3 Spring St, Crookwell NSW 2583",
)


class KeyReads:
    """Counts the vault's key reads, by key id."""

    def __init__(self, vault: KeyVault, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids: list[uuid.UUID] = []
        read = vault._key

        def counted(key_id: uuid.UUID) -> bytes | None:
            self.ids.append(key_id)
            return read(key_id)

        monkeypatch.setattr(vault, "_key", counted)


def lodge(rt: Runtime, intake: Intake) -> cmds.Lodged:
    return cmds.lodge_request(
        cmds.LodgeRequest(council=COUNCIL, intake=intake, actor=OFFICER), rt.ports
    )


def pothole(**kw: Any) -> Intake:
    return Intake(
        category="pothole",
        channel=Channel.PHONE,
        description="Deep pothole outside 3 Spring St",
        **kw,
    )


def test_a_new_key_is_created_once_and_read_back_the_same(sqlite_runtime: Runtime) -> None:
    vault, key_id = sqlite_runtime.vault, uuid.uuid4()
    created = vault.ensure_key(key_id, COUNCIL, AT)
    assert len(created) == 32
    assert vault.ensure_key(key_id, COUNCIL, AT) == created
    assert vault._key(key_id) == created


def test_a_key_another_process_created_meanwhile_is_theirs_not_ours(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, key_id = sqlite_runtime.vault, uuid.uuid4()
    other = KeyVault(make_engine(sqlite_runtime.settings.sqlalchemy_url("keys")))
    theirs = other.ensure_key(key_id, COUNCIL, AT)
    other.engine.dispose()
    # Our first look came before theirs was committed: our insert then finds it taken.
    original, looks = vault._key, []

    def late_look(k: uuid.UUID) -> bytes | None:
        looks.append(k)
        return None if len(looks) == 1 else original(k)

    monkeypatch.setattr(vault, "_key", late_look)
    assert vault.ensure_key(key_id, COUNCIL, AT) == theirs
    assert looks == [key_id, key_id]


def test_lodging_for_a_new_customer_never_reads_their_new_key(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    lodge(
        sqlite_runtime, pothole(customer=Customer(name="Bo Li", phone="0411 111 111"))
    )  # reads the index key
    reads = KeyReads(sqlite_runtime.vault, monkeypatch)
    lodged = lodge(sqlite_runtime, pothole(customer=ANN))
    assert lodged.customer is not None
    key = customer_id(COUNCIL, lodged.customer)
    assert reads.ids == []  # a key that must be new is created without a look, never read
    request = sqlite_runtime.ports.get(lodged.request_id, lodged.reference)
    assert key_of(request.description) == request.data_key == key
    opener = sqlite_runtime.vault.opener()
    assert opener.open(request.description) == "Deep pothole outside 3 Spring St"
    assert request.customer is not None and request.customer.phone is not None
    assert opener.open(request.customer.phone) == "0400 000 000"


def test_a_repeat_callers_and_an_anonymous_request_are_sealed_under_the_right_key(
    sqlite_runtime: Runtime,
) -> None:
    first = lodge(sqlite_runtime, pothole(customer=ANN))
    assert first.customer is not None
    again = lodge(sqlite_runtime, pothole(customer_number=first.customer))
    assert again.customer == first.customer
    request = sqlite_runtime.ports.get(again.request_id, again.reference)
    assert request.data_key == customer_id(COUNCIL, first.customer)
    canterbury = cmds.lodge_request(
        cmds.LodgeRequest(
            council="canterbury",
            intake=Intake(
                category="pothole", channel=Channel.PHONE, description="Tag on the bus shelter"
            ),
            actor=OFFICER,
        ),
        sqlite_runtime.ports,
    )
    anon = sqlite_runtime.ports.get(canterbury.request_id, canterbury.reference)
    assert anon.data_key == request_id("canterbury", canterbury.reference)
    assert sqlite_runtime.vault.opener().open(anon.description) == "Tag on the bus shelter"


def test_the_councils_index_key_is_read_once_per_process(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = sqlite_runtime.vault
    first = lodge(sqlite_runtime, pothole(customer=ANN))
    reads = KeyReads(vault, monkeypatch)
    for value in ("0400000000", "+61 400 000 000", "0400 000 000"):
        assert find_customers(vault, COUNCIL, "phone", value) == [first.customer]
    assert find_customers(vault, COUNCIL, "email", "ANN@example.org ") == [first.customer]
    assert find_customers(vault, COUNCIL, "name", "ann  lee") == [first.customer]
    assert reads.ids == []
    # A fresh process reads it once, and finds the same customers.
    fresh = KeyVault(make_engine(sqlite_runtime.settings.sqlalchemy_url("keys")))
    fresh_reads = KeyReads(fresh, monkeypatch)
    assert find_customers(fresh, COUNCIL, "phone", "0400000000") == [first.customer]
    assert find_customers(fresh, COUNCIL, "name", "Ann Lee") == [first.customer]
    assert fresh_reads.ids == [
        uuid.uuid5(uuid.UUID("9d3f4a3e-2a51-4f0f-8f39-0f3b0b2d6c11"), COUNCIL)
    ]
    fresh.engine.dispose()


def test_erasing_a_customer_makes_their_data_unreadable_and_unfindable(
    sqlite_runtime: Runtime,
) -> None:
    lodged = lodge(sqlite_runtime, pothole(customer=ANN))
    assert lodged.customer is not None
    request = sqlite_runtime.ports.get(lodged.request_id, lodged.reference)
    erase_customer(
        EraseCustomer(
            council=COUNCIL, number=lodged.customer, actor=OFFICER, reason="Customer asked"
        ),
        sqlite_runtime.directory_ports,
        sqlite_runtime.vault,
        lambda council, number: [],
    )
    assert sqlite_runtime.vault.opener().open(request.description) is None
    assert find_customers(sqlite_runtime.vault, COUNCIL, "phone", "0400 000 000") == []
    # Finding still works for others after an erasure.
    other = lodge(sqlite_runtime, pothole(customer=Customer(name="Bo Li", phone="0411 111 111")))
    assert find_customers(sqlite_runtime.vault, COUNCIL, "name", "bo li") == [other.customer]


def test_a_key_that_must_be_new_never_overwrites_one_that_exists(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, key_id = sqlite_runtime.vault, uuid.uuid4()
    existing = vault.ensure_key(key_id, COUNCIL, AT)
    reads = KeyReads(vault, monkeypatch)
    with pytest.raises(KeyExists, match="never overwritten"):
        vault.sealer(key_id, COUNCIL, AT, new=True)
    with pytest.raises(KeyExists):
        vault.new_customer(key_id, COUNCIL, "UL-C999999", {"name": "Ann Lee"}, AT)
    assert key_id not in reads.ids  # no look first
    assert vault._key(key_id) == existing
    assert find_customers(vault, COUNCIL, "name", "Ann Lee") == []  # nothing half-written
    fresh = uuid.uuid4()
    token = vault.sealer(fresh, COUNCIL, AT, new=True).seal("Ann Lee")
    assert token is not None and vault.opener().open(token) == "Ann Lee"


def test_an_anonymous_lodgement_creates_its_key_without_a_look(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = KeyReads(sqlite_runtime.vault, monkeypatch)
    lodged = cmds.lodge_request(
        cmds.LodgeRequest(council="canterbury", intake=pothole(), actor=OFFICER),
        sqlite_runtime.ports,
    )
    assert reads.ids == []
    request = sqlite_runtime.ports.get(lodged.request_id, lodged.reference)
    assert request.data_key == request_id("canterbury", lodged.reference)
    assert (
        sqlite_runtime.vault.opener().open(request.description)
        == "Deep pothole outside 3 Spring St"
    )


def _leftovers(rt: Runtime, number: str) -> bool:
    return rt.vault.holds(customer_id(COUNCIL, number), COUNCIL, number)


def test_a_failed_record_save_leaves_no_key_and_no_index_entry(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sqlite_runtime.directory_ports, "save", refused)
    with pytest.raises(OSError, match="disk full"):
        lodge(sqlite_runtime, pothole(customer=ANN))
    number = "UL-C000001"  # the number the failed registration took
    assert sqlite_runtime.vault.created_at(customer_id(COUNCIL, number)) is None
    assert not _leftovers(sqlite_runtime, number)
    assert find_customers(sqlite_runtime.vault, COUNCIL, "phone", "0400 000 000") == []


def test_what_a_registration_that_died_half_way_left_is_erasable(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies between writing the key and index entries and saving the record:
    an erasure of the number, or the sweep, still reaches them."""

    def died(*_: object) -> None:
        raise KeyboardInterrupt

    saved = lodge(sqlite_runtime, pothole(customer=Customer(name="Bo Li", phone="0411 111 111")))
    assert saved.customer is not None
    monkeypatch.setattr(sqlite_runtime.directory_ports, "save", died)
    monkeypatch.setattr(customers, "_forget_unsaved", lambda *_: False)  # no chance to tidy
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            lodge(sqlite_runtime, pothole(customer=ANN))
    monkeypatch.undo()
    first, second = "UL-C000002", "UL-C000003"
    assert _leftovers(sqlite_runtime, first) and _leftovers(sqlite_runtime, second)
    assert find_customers(sqlite_runtime.vault, COUNCIL, "phone", "0400 000 000") == [first, second]

    def erase(number: str) -> object:
        return erase_customer(
            EraseCustomer(council=COUNCIL, number=number, actor=OFFICER, reason="Asked"),
            sqlite_runtime.directory_ports,
            sqlite_runtime.vault,
            lambda council, n: [],
        )

    assert erase(first.lower()) is None  # no record: what was left is destroyed
    assert not _leftovers(sqlite_runtime, first)
    with pytest.raises(CustomerNotFound):
        erase(first)  # nothing left
    # The sweep leaves registrations that may still be under way alone, then takes the rest.
    directory, vault = sqlite_runtime.directory_ports, sqlite_runtime.vault
    assert erase_unsaved_registrations(directory, vault, COUNCIL, AT.replace(year=2000)) == []
    assert _leftovers(sqlite_runtime, second)
    assert erase_unsaved_registrations(directory, vault, COUNCIL, AT.replace(year=2100)) == [second]
    assert not _leftovers(sqlite_runtime, second)
    assert find_customers(vault, COUNCIL, "phone", "0400 000 000") == []
    # A customer whose record was saved is never swept.
    assert find_customers(vault, COUNCIL, "phone", "0411 111 111") == [saved.customer]
    assert _leftovers(sqlite_runtime, saved.customer)


def test_a_corrected_phone_number_finds_the_customer_and_the_old_one_no_longer_does(
    sqlite_runtime: Runtime,
) -> None:
    number = lodge(sqlite_runtime, pothole(customer=ANN)).customer
    assert number is not None
    rt = sqlite_runtime
    assert customers.find_customers(rt.vault, COUNCIL, "phone", "0400 000 000") == [number]
    customers.correct_details(
        customers.CorrectDetails(
            council=COUNCIL,
            number=number,
            actor=OFFICER,
            details=Customer(phone="0422 222 222"),
            reason="New mobile",
        ),
        rt.directory_ports,
        rt.vault,
    )
    assert customers.find_customers(rt.vault, COUNCIL, "phone", "0400 000 000") == []
    assert customers.find_customers(rt.vault, COUNCIL, "phone", "0422 222 222") == [number]
    assert customers.find_customers(rt.vault, COUNCIL, "name", "Ann Lee") == [number]
