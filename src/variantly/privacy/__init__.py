"""Data protection: what is stored about a person, found, exported and erased on request, and kept only as long as
the workspace says (``events.retention_days``)."""
