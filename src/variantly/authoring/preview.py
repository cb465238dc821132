"""Previews: one variant as its cohort would see it (review), and a page as a profile would see it (marketers).

Both render exactly as the render endpoint does, from the workspace on disk and the
release being served, so what a marketer sees after saving a module file is what a
customer gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from variantly.errors import ChannelNotSupported, NotFound
from variantly.serving.profiles import Profile
from variantly.serving.release import Release, ServedVariant
from variantly.serving.render import RenderedPage, render_module, render_target, viewer_for_cohort, viewer_for_profile
from variantly.store.schema import VariantRow
from variantly.workspace import Workspace
from variantly.workspace.channels import CHANNELS, Channel, MaxSegments
from variantly.workspace.cohorts import ANY, Cohort
from variantly.workspace.segments import sms_segments

PAGE = """<!doctype html><html lang="{locale}"><head><meta charset="utf-8"><title>Preview</title><style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1d2433; }}
img {{ max-width: 100%; height: auto; background: #dfe4f0; }}
.button {{ display: inline-block; background: #2747d6; color: #fff; padding: 10px 18px; border-radius: 6px; }}
.part h2 {{ font-size: 13px; color: #4a5368; margin: 12px 0 4px; }}
.part pre {{ white-space: pre-wrap; font: 15px/1.4 system-ui, sans-serif; background: #f0f3fb; padding: 10px 12px;
  border-radius: 12px; max-width: 360px; margin: 0; }}
.part small {{ color: #4a5368; }}
</style></head><body>{body}</body></html>"""


def message_html(channel: Channel, parts: dict[str, str]) -> str:
    """A message as a reviewer sees it: HTML as it is; text parts (SMS, push) as text, with their length
    and, for SMS, what it costs in segments."""
    if "html" in parts:
        return parts["html"]
    shown = []
    for part in channel.parts:
        text = parts.get(part.name, "")
        measure = f"{len(text)} characters"
        if any(isinstance(rule, MaxSegments) and rule.part == part.name for rule in channel.rules):
            measure += f", {sms_segments(text).describe()}"
        shown.append(
            f'<section class="part"><h2>{escape(channel.name)} {escape(part.name)}</h2>'
            f"<pre>{escape(text)}</pre><small>{escape(measure)}</small></section>"
        )
    return "".join(shown)


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
    return PAGE.format(locale=cohort.get("locale", "en"), body=message_html(CHANNELS[channel], rendered.parts))


@dataclass
class ProfilePreview:
    """A layout or module rendered for a profile, with the decisions that shaped it."""

    target: str
    channel: str
    page: RenderedPage

    @property
    def document(self) -> str:
        """The rendered HTML as a whole document (a module alone, or a text message, gets the preview frame)."""
        html = message_html(self.page.channel, self.page.parts)
        return html if html.lstrip().lower().startswith("<!doctype") else PAGE.format(locale="en", body=html)


def preview_for_profile(
    workspace: Workspace, release: Release, profile: Profile, *, target: str, channel: str = "web"
) -> ProfilePreview:
    """``target`` is a layout id, or a module id; the profile is rendered as the render endpoint would."""
    viewer = viewer_for_profile(workspace, profile)
    if target in workspace.layouts:
        page = render_target(workspace, release, viewer, channel=channel, layout=target)
    else:
        page = render_target(workspace, release, viewer, channel=channel, module=target)
    return ProfilePreview(target, channel, page)


def decision_rows(preview: ProfilePreview) -> list[dict[str, str]]:
    """One row per module: what it showed and the reason that decided it."""
    return [
        {
            "module": d.module,
            "outcome": d.outcome,
            "cohort": d.served_cohort or d.cohort,
            "arm": d.arm,
            "variant": (d.variant_id or "")[:10],
            "why": d.reasons[-1] if d.reasons else "",
        }
        for d in preview.page.decisions
    ]


STANDALONE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview: {title}</title><style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1d2433; display: grid;
  grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }}
iframe {{ width: 100%; height: 90vh; border: 1px solid #dfe4f0; border-radius: 6px; background: #fff; }}
table {{ border-collapse: collapse; font-size: 13px; table-layout: fixed; width: 100%; }}
td, th {{ text-align: left; padding: 4px 6px; border-bottom: 1px solid #dfe4f0; vertical-align: top;
  overflow-wrap: anywhere; }}
</style></head><body><iframe sandbox title="{title}" srcdoc="{srcdoc}"></iframe>
<section><h1>{title}</h1>{subject}<table><thead><tr><th>module</th><th>outcome</th><th>cohort</th>
<th>arm</th><th>why</th></tr></thead><tbody>{rows}</tbody></table></section></body></html>"""


def standalone_html(preview: ProfilePreview, profile: Profile) -> str:
    """The preview as one file: the page in a sandboxed frame beside its decision table (``variantly preview``)."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(row[k])}</td>" for k in ("module", "outcome", "cohort", "arm", "why")) + "</tr>"
        for row in decision_rows(preview)
    )
    subject = f"<p>Subject: {escape(preview.page.subject)}</p>" if preview.page.subject else ""
    title = escape(f"{preview.target} ({preview.channel}) for {profile.id}")
    return STANDALONE.format(title=title, srcdoc=escape(preview.document), rows=rows, subject=subject)
