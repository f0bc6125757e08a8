"""The ``course`` command: one module per subcommand, nothing else imports this package.

    course lab | release | check | doctor | train | bench | grade

- ``main``: the parser, the registry :data:`COMMANDS` and the one place errors become exit codes;
- ``base``: :class:`Command`, :class:`UsageError` (exit 2) and :class:`CommandFailed` (exit 1);
- ``args``: the argument types (whole numbers, positive numbers, sizes, name lists);
- ``lab``, ``release``, ``check``, ``doctor``, ``train``, ``bench``, ``grade``: each a ``configure(parser)``,
  a ``run(args) -> int`` and a ``COMMAND``. Heavy imports (torch, nbgrader) happen inside ``run``, so
  ``course --help`` stays fast.

To add a subcommand: write its module with those three names and add it to ``main.COMMANDS``.
"""

from course_utils.cli.base import Command, CommandFailed, UsageError
from course_utils.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "Command", "CommandFailed", "UsageError", "build_parser", "main"]
