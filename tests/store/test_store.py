"""The store keeps decisions safe: versions, an append-only audit log, a release counter.

Runs on SQLite, and on PostgreSQL when VARIANTLY_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from variantly.errors import Conflict, InvalidTransition
from variantly.store import Store
from variantly.store.schema import ReleaseRow, VariantRow
from variantly.store.variants import add_variant, approved_rows, change_variant, history


def new_row(vid: str = "v1", status: str = "pending") -> VariantRow:
    return VariantRow(
        id=vid,
        module_id="hero",
        cohort_key="segment=startup;locale=en",
        locale="en",
        slots={"headline": "Hello"},
        status=status,
        module_hash="abc",
        source="test",
        report={},
    )


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    store.migrate()
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"variants", "audit_log", "events", "releases", "alembic_version"} <= names


def test_workers_starting_together_on_a_fresh_store_all_open_it(database_url: str) -> None:
    """``uvicorn --workers 4`` on a new database: each worker migrates it as it starts, at the same moment. One
    migrates and the others wait for it, then find it at head; none fails with "table already exists"."""
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(database_url).dispose()
        except BaseException as exc:  # what a worker would die of
            failures.append(exc)

    workers = [threading.Thread(target=open_store, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)  # not a race: without turns the threads' migrations can wait on each other forever
    assert not any(worker.is_alive() for worker in workers) and failures == []
    opened = Store(database_url)
    with opened.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ReleaseRow)) == 0
    opened.dispose()


def test_approve_records_who_when_and_why(store: Store) -> None:
    assert add_variant(store, new_row(), actor="importer")
    row = change_variant(
        store, "v1", expected_version=1, actor="rita", action="approve", to_status="approved", reason="on brand"
    )
    assert (row.status, row.version) == ("approved", 2)
    entries = history(store, "v1")
    assert [(e.action, e.actor, e.from_status, e.to_status) for e in entries] == [
        ("create", "importer", None, "pending"),
        ("approve", "rita", "pending", "approved"),
    ]
    assert entries[1].reason == "on brand" and entries[1].before["status"] == "pending"
    assert [v.id for v in approved_rows(store)] == ["v1"]


def test_adding_the_same_variant_twice_changes_nothing(store: Store) -> None:
    assert add_variant(store, new_row(), actor="a")
    assert not add_variant(store, new_row(), actor="a")
    assert len(history(store, "v1")) == 1


def test_stale_version_is_refused_and_changes_nothing(store: Store) -> None:
    add_variant(store, new_row(), actor="a")
    change_variant(store, "v1", expected_version=1, actor="rita", action="approve", to_status="approved")
    with pytest.raises(Conflict, match="version 2, not 1"):
        change_variant(store, "v1", expected_version=1, actor="sam", action="reject", to_status="rejected")
    assert [e.action for e in history(store, "v1")] == ["create", "approve"]


def test_two_reviewers_at_once_exactly_one_wins(store: Store) -> None:
    add_variant(store, new_row(), actor="a")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(actor: str, to_status: str) -> None:
        barrier.wait()
        try:
            change_variant(store, "v1", expected_version=1, actor=actor, action=to_status, to_status=to_status)
            outcomes.append("won")
        except Conflict:
            outcomes.append("409")

    threads = [
        threading.Thread(target=decide, args=("rita", "approved")),
        threading.Thread(target=decide, args=("sam", "rejected")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "won"]
    assert len(history(store, "v1")) == 2  # create + exactly one decision


def test_illegal_transition_is_refused(store: Store) -> None:
    add_variant(store, new_row(status="rejected"), actor="a")
    with pytest.raises(InvalidTransition, match="cannot approve a variant that is rejected"):
        change_variant(store, "v1", expected_version=1, actor="x", action="approve", to_status="approved")


def test_audit_log_is_append_only_in_the_database(store: Store) -> None:
    add_variant(store, new_row(), actor="a")
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert history(store, "v1")[0].actor == "a"


def test_release_counter_increases(store: Store) -> None:
    assert store.release_number() == 0
    assert store.publish("rita", "approved v1") == 1
    assert store.publish("rita", "approved v2") == 2
    assert store.release_number() == 2


@pytest.mark.postgres
def test_timestamps_come_back_timezone_aware_on_every_engine(store) -> None:
    store.publish("t", "a release")
    with store.sessions() as session:
        row = session.scalars(sa.select(ReleaseRow)).one()
    assert row.published_at.tzinfo is not None and row.published_at.utcoffset().total_seconds() == 0
