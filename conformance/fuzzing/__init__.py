"""The fuzz targets' shared machinery (``fuzz/*.py``), their regression replay and the seed writer.

The targets, the regression tests and the nightly job must agree on what an
input means, where findings go and how they are named, or a saved crash
stops reproducing; each module here holds one of those agreements.

Importing the package registers the intake tool scenarios (``fuzz.profile``,
``fuzz.intake``): the catalogue imports it so that the sandbox can run them.
"""

from conformance.fuzzing import intake_scenarios as intake_scenarios
