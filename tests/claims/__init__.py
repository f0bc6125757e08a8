"""Claims as tests (STYLE.md 24, CONTRIBUTING "Adding a chapter"): one file per chapter,
``test_claims_NN_name.py``. Each test reruns a measured sentence of its chapter at the chapter's own quick
profile, over at least three seeds, and asserts ``course_utils.evidence.compare(claim, baseline).holds``
against the baseline that would also pass (noise, an untrained model, the alternative). Models are trained
once per module (module-scoped fixtures) and shared by that chapter's tests.
"""
