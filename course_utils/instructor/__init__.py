"""The instructor's tools: release chapters, validate notebooks, grade a class in a sandbox, report.

Nothing here imports torch or the training code (import-linter checks it, see pyproject.toml)."""
