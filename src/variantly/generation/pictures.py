"""One picture job (a module with an image slot x cohort x locale): pictures made, checked, described, kept.

A round makes ``count`` pictures in one image call (its per-image price reserved against
the budget first), checks each as a file (format, size, bytes, aspect, not blank), asks
the moderation endpoint about it and reads any text in it offline (RapidOCR: text where
the module allows none fails; allowed text goes through the copy policy checks). Every
readable picture is kept by content, then one chat call with the pictures as input
writes each one's alt text and caption, which the policy checks (and the brand judge,
with ``--judge``) see like any copy. A candidate whose picture fails is redone with a new
picture, the reasons in the picture prompt; one whose words alone fail has them re-asked
with the pictures in view. The job ends like a copy job (``generation.job``): done,
failed or unfinished, every paid call recorded.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from typing import Any

from variantly.authoring.picture_text import TextUnread, read_text, text_in_picture_failures, unread
from variantly.authoring.pictures import PICTURE_MODERATION, picture_failures, picture_files
from variantly.authoring.report import CheckReport, Failure, PictureRecord
from variantly.errors import LLMCallFailed
from variantly.generation.calls import JobStopped, NotStarted, Priced, RunServices, RunState, paid_call
from variantly.generation.image_api import make_pictures, moderate, picture_cost
from variantly.generation.job import Asking, as_text, retried, stopped_by
from variantly.generation.llm import INTERRUPTED, CallRecord
from variantly.generation.outcomes import OUT_OF_BUDGET, Candidate, JobOutcome, JobStatus
from variantly.generation.plan import PlannedJob
from variantly.generation.prompts import picture_prompt
from variantly.store.images import ImageFile, image_file, save_image_files
from variantly.workspace.images import MIME, Picture, PictureRef


async def run_picture_job(
    services: RunServices, state: RunState, job: PlannedJob, first: list[bytes] | None = None
) -> JobOutcome:
    """Run one picture job to its outcome; raises ``JobStopped``/``NotStarted`` like ``run_job`` when it made no
    call. ``first``: pictures that came another way (a batch), checked and described as if just made."""
    calls = state.unsaved.setdefault(job.key, [])
    maker = _PictureRound(services, state, job, Asking(services, state, job, calls))
    candidates: list[Candidate] = []
    reasks = 0
    status: JobStatus = "failed"
    error = ""
    try:
        # --retry-failed: told why the last run failed (a batch's pictures were asked for without it, as sent)
        earlier = [f"an earlier run failed: {job.retry_of}"] if job.retry_of and first is None else []
        candidates = await maker.pictures(maker.asking.wanted, earlier, made=first)
        while not maker.asking.out_of_budget and reasks < services.max_reasks:
            failing_at = [i for i, c in enumerate(candidates) if c.failing]
            if not failing_at:
                break
            redrawn = [i for i in failing_at if _picture_problems(candidates[i].report)]
            reworded = [i for i in failing_at if i not in redrawn]
            fresh: dict[int, Candidate] = {}
            if redrawn:  # new pictures, told what was wrong with the last ones
                problems = sorted({p for i in redrawn for p in _picture_problems(candidates[i].report)})
                fresh |= zip(redrawn, await maker.pictures(len(redrawn), problems), strict=False)
            if reworded and not maker.asking.out_of_budget:  # the pictures passed: new words for them
                fresh |= zip(reworded, await maker.words([candidates[i] for i in reworded]), strict=False)
            reasks += 1
            for index, new in fresh.items():
                candidates[index] = retried(candidates[index], new)
        if maker.asking.out_of_budget:
            status, error = "unfinished", OUT_OF_BUDGET
        else:
            why = next((c.report.summary for c in candidates), "the image endpoint returned no pictures")
            error = f"no picture passed the checks after {reasks} redo(s): {why}"
    except (LLMCallFailed, JobStopped, NotStarted) as exc:
        status, error = stopped_by(exc, state, job, maker.asking)
    if any(c.report.passed for c in candidates):
        status, error = "done", ""
    return JobOutcome(job, status, error, tuple(candidates), tuple(calls), reasks, maker.asking.out_of_budget)


def _picture_problems(report: CheckReport) -> list[str]:
    """What was wrong with a candidate's picture itself (not its words): what a new picture must avoid."""
    return [f.message for _, f in report.failures() if f.validator.startswith("variantly/picture")]


class _PictureRound:
    def __init__(self, services: RunServices, state: RunState, job: PlannedJob, asking: Asking) -> None:
        self.services, self.state, self.job, self.asking = services, state, job, asking
        self.module = services.workspace.modules[job.module_id].module
        found = self.module.picture_slot
        assert found is not None
        self.slot, self.spec = found
        self.images = services.workspace.settings.images

    async def words(self, redo: list[Candidate]) -> list[Candidate]:
        """New alt text and captions for pictures that passed, their refused words quoted back, the pictures in view."""
        refs: list[PictureRef | None] = [PictureRef.parse(c.slots[self.slot]) for c in redo]
        records: list[PictureRecord | None] = [c.picture for c in redo]
        loop = asyncio.get_running_loop()
        small = await loop.run_in_executor(self.services.worker, lambda: [self._picture_bytes(r) for r in refs])
        words = await self._describe(small, [c.report.problems() for c in redo])
        return await self._checked(refs, records, [[] for _ in redo], words)

    async def pictures(self, count: int, problems: list[str], made: list[bytes] | None = None) -> list[Candidate]:
        """``count`` new pictures (or those ``made`` already, by a batch), checked, kept and described."""
        prompt = picture_prompt(
            self.services.prompts,
            self.services.workspace,
            self.job.module_id,
            self.job.cohort,
            feedback=self.job.feedback,
            problems=problems,
        )
        pictures = made[:count] if made is not None else await self._make(prompt, count)
        refs: list[PictureRef | None] = []
        records: list[PictureRecord | None] = []
        found = []
        for data in pictures:
            ref, record, failures = await self._inspect(prompt, data)
            refs.append(ref)
            records.append(record)
            found.append(failures)
        loop = asyncio.get_running_loop()
        small = await loop.run_in_executor(self.services.worker, lambda: [self._picture_bytes(r) for r in refs])
        words = await self._describe(small, None)
        return await self._checked(refs, records, found, words)

    async def _make(self, prompt: str, count: int) -> list[bytes]:
        price = self.images.prices.get(self.images.model)
        spec = self.spec

        def bill(record: CallRecord) -> float:
            made = count if record.outcome == INTERRUPTED else record.pictures
            return picture_cost(price, spec, made, record.prompt_tokens)

        priced = Priced(self.images.model, picture_cost(price, spec, count, len(prompt)), bill)  # a token is >= 1 char
        llm, model = self.services.llm, self.images.model
        answer = await paid_call(
            self.services,
            self.state,
            self.job,
            self.asking.calls,
            [{"role": "user", "content": prompt}],
            "picture",
            lambda m, on_call, before: make_pictures(
                llm, model, prompt, spec, count, references=self._references(), on_call=on_call, before_attempt=before
            ),
            priced=priced,
        )
        return answer.data[:count]

    def _references(self) -> list[Any]:
        folder = self.services.workspace.root / "modules" / "assets"
        return [folder / name for name in self.spec.references]

    async def _inspect(self, prompt: str, data: bytes) -> tuple[PictureRef | None, PictureRecord, list[Failure]]:
        """The file checks, OCR and the copies run in the picture threads, the store write in the run's worker thread
        (the store's one writer); the moderation call on the loop."""
        loop = asyncio.get_running_loop()
        spec, services = self.spec, self.services

        def local() -> tuple[PictureRef | None, list[ImageFile], list[Failure], str | None]:
            failures = picture_failures(data, spec)
            if any(f.message.startswith("not a picture") for f in failures):
                return None, [], failures, ""
            ref, files = picture_files(data, spec.widths)
            try:
                return ref, files, failures, read_text(data)
            except TextUnread as exc:  # unread is not "no text": the picture fails until a person looks
                return ref, files, [*failures, unread(exc)], None

        ref, files, failures, text = await loop.run_in_executor(services.picture_worker or services.worker, local)
        if files:
            await loop.run_in_executor(services.worker, save_image_files, services.store, files)
        flagged: list[str] = []
        moderated = False
        if ref is not None:
            try:
                flagged = await moderate(services.llm, self.images.moderation_model, data, MIME[ref.ext])
                moderated = True
            except LLMCallFailed as exc:
                failures.append(Failure(validator=PICTURE_MODERATION, message=f"could not be moderated: {exc.message}"))
        if flagged:
            failures.append(
                Failure(
                    validator=PICTURE_MODERATION, message=f"the moderation endpoint flagged it: {', '.join(flagged)}"
                )
            )
        if text is not None:
            failures += await loop.run_in_executor(services.worker, self._text_failures, text)
        record = PictureRecord(
            prompt=prompt,
            model=self.images.model,
            moderation=tuple(flagged),
            moderated=moderated,
            text=text or "",
            text_read=ref is not None and text is not None,
        )
        return ref, record, failures

    def _text_failures(self, text: str) -> list[Failure]:
        """The text read in a picture, checked as ``authoring.picture_text`` says; the policy here is the run's checker
        on the alt slot."""
        workspace, checker = self.services.workspace, self.services.checker()

        def policy(text: str) -> list[str]:
            failures, _ = checker.slot_failures(
                workspace, self.job.module_id, self.asking.cohort, {self.spec.alt_slot: text}
            )
            return [f.message for found in failures.values() for f in found]

        return text_in_picture_failures(workspace, self.job.module_id, self.spec, text, self.job.cohort.locale, policy)

    async def _describe(
        self, pictures: list[tuple[bytes, str] | None], problems: list[list[str]] | None
    ) -> list[dict[str, str]]:
        """One chat call, the pictures in view (small copies, detail low): alt text and caption for each."""
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.job.prompt.messages[-1]["content"]}]
        for number, data in enumerate(pictures, start=1):
            said = f"Picture {number}:"
            if problems is not None and problems[number - 1]:
                said += " the words written for it before were refused: " + "; ".join(problems[number - 1])
            parts.append({"type": "text", "text": said})
            if data is not None:
                url = f"data:{data[1]};base64,{base64.b64encode(data[0]).decode()}"
                parts.append({"type": "image_url", "image_url": {"url": url, "detail": "low"}})
        messages: list[dict[str, Any]] = [*self.job.prompt.messages[:-1], {"role": "user", "content": parts}]
        answer = await self.asking.ask(messages, "describe", len(pictures))
        items = [as_text(c) for c in answer.items[: len(pictures)]]
        while len(items) < len(pictures):  # the schema asked for one each; a short answer leaves the rest empty
            items.append({})
        return items

    async def _checked(
        self,
        refs: list[PictureRef | None],
        records: list[PictureRecord | None],
        found: list[list[Failure]],
        words: list[dict[str, str]],
    ) -> list[Candidate]:
        default = self.module.slots[self.slot].default
        fallback = default if isinstance(default, str) else next(iter(default.values()))
        slots = [
            {name: w.get(name, "") for name in self.module.slots if name != self.slot}
            | {self.slot: str(ref) if ref else fallback}
            for ref, w in zip(refs, words, strict=True)
        ]
        checked = await self.asking.check(slots)
        return [
            replace(c, report=c.report.with_failures({self.slot: failures}) if failures else c.report, picture=record)
            for c, failures, record in zip(checked, found, records, strict=True)
        ]

    def _picture_bytes(self, ref: PictureRef | None) -> tuple[bytes, str] | None:
        """The smallest kept copy of a picture and its type: what the LLM is shown (detail low reads 512 px)."""
        if ref is None:
            return None
        small = image_file(self.services.store, ref.path(ref.widths(self.spec.widths)[0]).removeprefix("/assets/"))
        return (small.data, small.mime) if small else None


__all__ = ["Picture", "read_text", "run_picture_job"]
