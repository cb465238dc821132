"""The workspace: files humans write (modules, layouts, audiences, settings), and the nouns
both paths share (cohorts, channels)."""

from variantly.workspace.files import Workspace
from variantly.workspace.loader import lint_workspace, load_workspace, workspace_problems

__all__ = ["Workspace", "lint_workspace", "load_workspace", "workspace_problems"]
