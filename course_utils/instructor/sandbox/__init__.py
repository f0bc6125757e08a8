"""Running untrusted notebooks: ``backend`` (bubblewrap, limits, the unsafe fallback) starts ``worker``.

Kept empty on purpose: the worker starts as ``python -I -m ...sandbox.worker`` and must import as little as it can."""
