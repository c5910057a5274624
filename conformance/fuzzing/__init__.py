"""The fuzz targets' shared machinery (``fuzz/*.py``), their regression replay and the seed writer.

The targets, the regression tests and the nightly job must agree on what an
input means, where findings go and how they are named, or a saved crash
stops reproducing; each module here holds one of those agreements. The intake
tool scenarios (``fuzz.profile``, ``fuzz.intake``) are registered by
``intake_scenarios``, which the sandbox's scenario lookup imports when asked for one.
"""
