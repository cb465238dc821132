"""A loaded workspace: the files it is made of, and each module and layout ready to render.

These are the nouns every other package reads (``Workspace``, ``ModuleFile``,
``LayoutFile``); loading and linting them is ``loader.py``'s job, and the cross-file
checks (``checks.py``) read them without importing the loader.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel

from variantly.workspace.brand import BRAND_FILE, CALIBRATION_FILE, BrandGuidelines
from variantly.workspace.models import Audiences, Layout, Module, Settings
from variantly.workspace.policy import POLICY_FILE, Policy
from variantly.workspace.templates import CompiledTemplate

SETTINGS_FILE = "variantly.yml"
AUDIENCES_FILE = "audiences.yml"
MODULE_GLOB = "modules/*.jinja"
LAYOUT_GLOB = "modules/layouts/*.jinja"
PROMPT_GLOB = "prompts/*.jinja"
VALIDATOR_GLOB = "guardrails/*.py"


@dataclass
class ModuleFile:
    module: Module
    template: CompiledTemplate
    path: str
    content_hash: str  # the copy's inputs: variants made for another hash are stale
    source_hash: str = ""  # everything in the file: what its rendered output depends on


@dataclass
class LayoutFile:
    layout: Layout
    template: CompiledTemplate
    path: str
    source_hash: str = ""


def source_hash(model: BaseModel, template: CompiledTemplate) -> str:
    return hashlib.sha256((model.model_dump_json() + "\0" + template.source).encode()).hexdigest()[:20]


@dataclass
class Workspace:
    root: Path
    settings: Settings
    audiences: Audiences
    modules: dict[str, ModuleFile] = field(default_factory=dict)
    layouts: dict[str, LayoutFile] = field(default_factory=dict)
    fingerprint: str = ""
    policy: Policy = field(default_factory=Policy)
    policy_hash: str = ""
    brand: BrandGuidelines = field(default_factory=BrandGuidelines)
    brand_hash: str = ""

    @property
    def locales(self) -> list[str]:
        return [a.id for a in self.audiences.locales]

    @cached_property
    def checks_basis(self) -> str:
        """What a check of copy reads besides the copy and its module: the policy's files (``policy_hash``), the
        merge fields and their defaults, and the channels' settings. Approved copy is checked again when it changes
        (a merge field removed from variantly.yml left approved copy sending "{company}" to customers, as checked
        before; a default changed to "there" makes a sentence starting with it read wrong)."""
        read = {
            "merge_fields": {name: m.default for name, m in sorted(self.settings.merge_fields.items())},
            "channels": {name: c.model_dump(mode="json") for name, c in sorted(self.settings.channels.items())},
        }
        digest = hashlib.sha256(json.dumps(read, sort_keys=True).encode()).hexdigest()[:6]
        return f"{self.policy_hash}.{digest}"


def fingerprint(root: Path) -> str:
    """Cheap change detector over the files a workspace is made of (names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for path in sorted(workspace_files(root)):
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def workspace_files(root: Path) -> list[Path]:
    """The files a workspace is made of (what a change detector and a snapshot look at)."""
    files = [
        root / SETTINGS_FILE,
        root / AUDIENCES_FILE,
        root / POLICY_FILE,
        root / BRAND_FILE,
        root / CALIBRATION_FILE,
    ]
    for pattern in (MODULE_GLOB, LAYOUT_GLOB, PROMPT_GLOB, VALIDATOR_GLOB):
        files += root.glob(pattern)
    return [f for f in files if f.exists()]
