"""Variants whose inputs changed are stale (DESIGN invariant 6).

Editing a module's brief, facts or slots, or the prompts that made a generated
variant, or the image model or picture style that made its picture, makes it stale;
a stale variant is never served. Free of the generation stack so any process that
writes to the store can run it.
"""

from __future__ import annotations

from sqlalchemy import select

from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import change_variant
from variantly.workspace import Workspace

LIVE = ("pending", "approved", "guardrail_failed")


def mark_stale(store: Store, workspace: Workspace, prompt_hash: str | None, *, actor: str) -> int:
    """Mark stale what no longer matches the workspace; publish if an approved one went."""
    with store.sessions() as session:
        rows = list(session.scalars(select(VariantRow).where(VariantRow.status.in_(LIVE))))
    count = approved = 0
    for row in rows:
        module_file = workspace.modules.get(row.module_id)
        if module_file is None:
            reason = f"module {row.module_id} no longer exists"
        elif row.module_hash != module_file.content_hash:
            reason = f"module {row.module_id} was edited (brief, facts, slots or assets)"
        elif prompt_hash and row.source == "generated" and row.prompt_hash and row.prompt_hash != prompt_hash:
            reason = "the prompts that made it were edited"
        elif (look := (row.params or {}).get("picture_look")) and look != workspace.settings.images.look:
            reason = "the image model or the brand's picture style (images: in variantly.yml) changed"
        else:
            continue
        change_variant(
            store, row.id, expected_version=row.version, actor=actor, action="stale", to_status="stale", reason=reason
        )
        count += 1
        approved += row.status == "approved"
    if approved:
        store.publish(actor, f"{approved} approved variant(s) went stale")
    return count
