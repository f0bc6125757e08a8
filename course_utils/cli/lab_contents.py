"""The contents manager of ``course lab``: a chapter opens unmodified, not with a "•" on its tab.

When a kernel connects, JupyterLab writes the kernel's ``language_info`` (Python's version included)
into the notebook's metadata and marks the notebook modified if that changes anything
(jupyter/notebook#2123). A released chapter cannot carry every student's Python version, so this
manager fills ``language_info`` in as the course's kernel will report it when Lab *loads* a Python
notebook. The file on disk is untouched until the student saves.

``course lab`` selects it with ``--ServerApp.contents_manager_class``; the kernel then runs on the
Python of the server (Jupyter's built-in ``python3`` kernel), which is the one described here.
"""

from __future__ import annotations

import copy

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


def kernel_language_info() -> dict:
    """The ``language_info`` that the ipykernel of this Python reports in its ``kernel_info_reply``."""
    from ipykernel.ipkernel import IPythonKernel  # only the server needs ipykernel's metadata

    return copy.deepcopy(IPythonKernel.language_info)


class StudentContentsManager(AsyncLargeFileManager):
    """Jupyter Server's default contents manager, with a Python notebook's ``language_info`` made current."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model.get("type") == "notebook" and model.get("content") is not None:
            metadata = model["content"]["metadata"]
            if metadata.get("kernelspec", {}).get("language", "python") == "python":
                metadata["language_info"] = kernel_language_info()
        return model
