"""The workspace: files humans write (modules, layouts, audiences, settings)."""

from variantly.workspace.loader import Workspace, load_workspace, workspace_problems

__all__ = ["Workspace", "load_workspace", "workspace_problems"]
