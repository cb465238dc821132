"""A render's JSON answer, prepared once per combination of decisions and filled in per request.

Viewers with the same decisions on the same release get the same page but for their merge
fields (``{first_name}``) and the signatures that prove what each was served. So the first
render of a combination writes the whole answer (the page, the decisions with their reasons,
the arm, the release) as JSON with a marker in each of those places, and keeps the bytes cut
at the markers (``PreparedAnswer``); every later request only joins the pieces with its own
values, escaped for HTML where the part is HTML and for JSON everywhere, and its signatures.

Measured in-process on the example landing page (``bench/render_profile.py``, medians inside
whole requests), this took what a render does after its decisions (filling, signing, writing the
JSON) from about 60 us to 28: no choice keys, no filling of four modules' pieces, no Decision
built, no orjson pass over 5 KB. A page whose pieces cannot be
reused (a template that does more with a merge field than print it) is answered as before:
rendered, then written by orjson (``render_target``'s page); a test holds both to the same bytes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from markupsafe import escape

from variantly.serving.compiled import fill
from variantly.serving.decide import Decided, Decision, Viewer, decide_page
from variantly.serving.kept import Kept, Missing
from variantly.serving.merge_fields import person_values
from variantly.serving.release import Release
from variantly.serving.render import ANSWER_PARTS, fill_page, page_pieces
from variantly.workspace.blocks import layout_text
from variantly.workspace.files import Workspace

# Markers no approved copy can hold by chance: a random word per process, between private-use characters.
_WORD = secrets.token_hex(6)
_HOLE = re.compile(f'"\ue000{_WORD}(s[0-9]+|subject)\ue001"|\ue000{_WORD}([ht][0-9]+)\ue001'.encode())
MAX_ANSWERS = 4000  # each a landing page's size (about 6 KB): at most about 25 MB

Signer = Callable[[Sequence[Decision]], list[str | None]]  # one signature per decision (None: unsigned)


@dataclass
class Answer:
    """A render's answer: the JSON body, and what the route says in headers and metrics."""

    body: bytes
    arm: str
    decisions: Sequence[Decision]
    release: int

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Variantly-Arm": self.arm, "X-Variantly-Release": str(self.release)}

    def after(self, first: dict) -> bytes:
        """The answer as one JSON object whose fields come after ``first``'s (a batch line's ``profile_id``)."""
        return orjson.dumps(first)[:-1] + b"," + self.body[1:]


@dataclass(frozen=True)
class PreparedAnswer:
    """The answer's bytes cut at its holes: literal bytes, or the index of a value in ``values`` order (the merge
    fields escaped for HTML, then as they are, then the subject, then the signatures)."""

    pieces: tuple[bytes | int, ...]
    decisions: tuple[Decision, ...]  # kept alive while this lives: the key holds their ids (``ANSWERS``)
    fields: int
    subject: bool
    html: bool  # whether merge fields are written into HTML parts (escaped for it), text parts, or both
    text: bool

    def fill(self, values: Sequence[str], subject: str | None, signatures: Sequence[str | None]) -> bytes:
        holes: list[bytes] = []
        if self.fields:  # only the escapes some part uses: a web page has no text part
            holes += [_json_text(escape(v)) for v in values] if self.html else [b""] * len(values)
            holes += [_json_text(v) for v in values] if self.text else [b""] * len(values)
        if self.subject:
            holes.append(orjson.dumps(subject))
        holes += [b'"%s"' % s.encode() if s else b"null" for s in signatures]
        return b"".join([holes[p] if type(p) is int else p for p in self.pieces])  # type: ignore[misc]


def _json_text(value: str) -> bytes:
    return orjson.dumps(value)[1:-1]


# Answers by (release serial, workspace edit, target, channel, locale, arm, decisions); None marks a page that cannot
# be prepared. A key names its decisions by ``id()``: they are shared and never changed (``decide.DECISIONS``), and
# a prepared answer holds them, so no other object can take one of those ids while its key is kept. (A None entry
# holds nothing; should an id come back, that page is only rendered per request, which is always right.)
ANSWERS: Kept[PreparedAnswer | None] = Kept(MAX_ANSWERS)


def render_answer(
    workspace: Workspace,
    release: Release,
    viewer: Viewer,
    sign: Signer,
    *,
    channel: str,
    module: str | None = None,
    modules: list[str] | None = None,
    layout: str | None = None,
) -> Answer:
    """What ``POST /v1/render`` answers for this viewer: the page, its decisions signed, as JSON bytes."""
    decided = decide_page(workspace, release, viewer, channel=channel, module=module, modules=modules, layout=layout)
    return answer_page(workspace, release, viewer, sign, decided)


def answer_page(workspace: Workspace, release: Release, viewer: Viewer, sign: Signer, decided: Decided) -> Answer:
    """The answer for decisions already made: prepared for this combination once, then filled in and signed."""
    decisions = decided.decisions
    prepared = None  # a message of a sized channel (an SMS) is judged per person, by ``fill_page``
    if not decided.channel.sized:
        where = (decided.target, decided.channel.name, decided.locale, decided.arm)
        key = (release.serial, workspace.fingerprint, *where, *map(id, decisions))
        found = ANSWERS.find(key)
        prepared = ANSWERS.keep(key, _prepare(workspace, release, decided)) if found is Missing.MISSING else found
    if prepared is None:  # rendered per request, then written as it says
        page = fill_page(workspace, decided, viewer)
        page.signatures = sign(decisions)
        return Answer(
            orjson.dumps(page.as_dict() | {"release": release.number}), decided.arm, decisions, release.number
        )
    values = person_values(workspace, viewer.profile, decided.locale) if prepared.fields else []
    subject = None
    if prepared.subject and decided.layout_file is not None:
        person = dict(zip(workspace.settings.merge_fields, values, strict=True))
        subject = layout_text(workspace, decided.layout_file.layout.subject, decided.locale, person)
    return Answer(prepared.fill(values, subject, sign(decisions)), decided.arm, decisions, release.number)


def _prepare(workspace: Workspace, release: Release, decided: Decided) -> PreparedAnswer | None:
    """The answer written once with a marker in each hole, then cut at them; None if its pieces cannot be reused."""
    _, pieces = page_pieces(workspace, decided)
    if pieces is None:
        return None
    count = len(workspace.settings.merge_fields)
    html = [f"\ue000{_WORD}h{i}\ue001" for i in range(count)]
    text = [f"\ue000{_WORD}t{i}\ue001" for i in range(count)]
    parts = {
        part.name: fill(piece, html if part.escaped else text)
        for part, piece in zip(decided.channel.parts, pieces, strict=True)
    }
    subject = decided.layout_file is not None and decided.channel.subject
    page = {name: parts.get(name) for name in ANSWER_PARTS}
    page["subject"] = f"\ue000{_WORD}subject\ue001" if subject else None
    page |= {name: output for name, output in parts.items() if name not in ANSWER_PARTS}
    decisions = [d.as_dict(f"\ue000{_WORD}s{i}\ue001") for i, d in enumerate(decided.decisions)]
    written = orjson.dumps(page | {"arm": decided.arm, "decisions": decisions, "release": release.number})
    holes = {f"h{i}": i for i in range(count)} | {f"t{i}": count + i for i in range(count)}
    after = 2 * count + (1 if subject else 0)
    holes |= {"subject": 2 * count} | {f"s{i}": after + i for i in range(len(decisions))}
    cut: list[bytes | int] = []
    for index, part in enumerate(_HOLE.split(written)):
        if index % 3 == 0:
            cut.append(part)
        elif part is not None:
            cut.append(holes[part.decode()])
    used = {p for p in cut if type(p) is int}
    return PreparedAnswer(
        tuple(p for p in cut if p != b""),
        tuple(decided.decisions),
        count,
        subject,
        html=any(i in used for i in range(count)),
        text=any(count + i in used for i in range(count)),
    )
