# nbgrader settings for the course. `course release`, `course check` and `course grade` load this file;
# its presence also marks the repository root for the `course` command.
# Assignment ids are chapter folders (e.g. "01_probability_densities"); each holds one notebook of the
# same name: solutions/01_probability_densities/01_probability_densities.ipynb.
c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

# Instructors edit solutions/ (solutions + hidden tests): the nbgrader "source" step.
c.CourseDirectory.source_directory = "solutions"
# Students open chapters/, generated from solutions/ by `course release`: the nbgrader "release" step.
c.CourseDirectory.release_directory = "chapters"
# Never copy editor or Python caches into chapters/ or into a grading workspace.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# Per-cell limit of `course check` and the Validate button (`course grade` has its own, --cell-timeout): chapters
# train small models on a 2-core CPU well under two minutes in total, so a cell that needs longer is stuck.
c.Execute.timeout = 120
# Interrupt a cell that runs past the limit (rather than kill the kernel) so later cells still run.
c.Execute.interrupt_on_timeout = True
# Wait up to 60 s for a finished cell's output (nbclient's 4 s default fails honest notebooks on a busy laptop,
# and nbgrader raises on it); the same as nbgrader_run.IOPUB_TIMEOUT, which `course grade` uses.
c.Execute.iopub_timeout = 60
# No automatic re-runs: a notebook that fails once should be looked at, not retried until it passes.
c.Execute.execute_retries = 0

# Solution regions become this stub; the released test cells then fail with NotImplementedError,
# which is what `course check --invert` and the notebook tests rely on (kept at nbgrader's default).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Written answers become this stub (nbgrader's default).
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Complain when "### BEGIN SOLUTION" sits in a cell not marked as a solution cell.
c.ClearSolutions.enforce_metadata = True
# Complain when "### BEGIN HIDDEN TESTS" sits in a cell not marked as a graded test cell.
c.ClearHiddenTests.enforce_metadata = True

# Test cells are read-only for students, and nbgrader restores them when grading.
c.LockCells.lock_grade_cells = True
# Solution cells stay editable: that is where students write their answers.
c.LockCells.lock_solution_cells = False

# When a student deletes a graded cell, autograding puts it back (and scores it) instead of failing.
c.OverwriteCells.add_missing_cells = True

# Hashed autotests would add a random salt to every release and break byte-stable regeneration.
c.InstantiateTests.use_salt = False
