"""The scenario contract: what a scenario sees, what it emits, and how it is asked for and answered.

The base that ``host``, ``sandbox`` and ``checks`` all stand on; it imports
nothing of theirs at run time.

* ``context``: ``ScenarioContext``, the view a scenario function gets (calls, expectations, skips);
* ``events``: the plain-data events a scenario streams out of its child;
* ``protocol``: requests to the sandbox and the results it answers with;
* ``tools``: scenarios the tool runs by name that are not checks (probe, fuzz replays, self-tests).
"""
