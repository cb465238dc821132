"""Render one variant as its cohort would see it, before it is approved (review preview)."""

from __future__ import annotations

from variantly.errors import ChannelNotSupported, NotFound
from variantly.serving.cohorts import ANY, Cohort
from variantly.serving.release import Release, ServedVariant
from variantly.serving.render import render_module, viewer_for_cohort
from variantly.store.schema import VariantRow
from variantly.workspace import Workspace

PAGE = """<!doctype html><html lang="{locale}"><head><meta charset="utf-8"><style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1d2433; }}
img {{ max-width: 100%; height: auto; background: #dfe4f0; }}
.button {{ display: inline-block; background: #2747d6; color: #fff; padding: 10px 18px; border-radius: 6px; }}
</style></head><body>{body}</body></html>"""


def preview_variant(workspace: Workspace, row: VariantRow, channel: str) -> str:
    module_file = workspace.modules.get(row.module_id)
    if module_file is None:
        raise NotFound(f"module '{row.module_id}' is no longer in the workspace")
    if channel not in module_file.module.channels:
        raise ChannelNotSupported(f"module '{row.module_id}' has no {channel} channel")
    cohort = Cohort.from_key(row.cohort_key).as_dict()
    viewer = viewer_for_cohort(workspace, {d: (v if v != ANY else None) for d, v in cohort.items()})
    release = Release.build(
        0, [ServedVariant(row.id, row.module_id, row.cohort_key, dict(row.slots), module_file.content_hash)]
    )
    rendered = render_module(workspace, release, row.module_id, channel, viewer)
    return PAGE.format(locale=cohort.get("locale", "en"), body=rendered.html)
