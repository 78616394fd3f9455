"""The demo scenarios: basic, manual, abort, prometheus, gitops, bluegreen, weighted
(``python -m controller.demo``).

Each scenario checks its prerequisites, sets up what it needs the way a user would
(localcluster, the install playbook, the demo app and its migration), narrates each step,
shows the Rollout's tree and the live traffic split, checks the outcome, prints a summary with
each step's timing, and exits non-zero when the outcome is wrong. ``--report FILE.html`` writes
a self-contained page of the run.

- :mod:`.cli`: the command line; :mod:`.engine`: steps, checks, summary, report;
- :mod:`.scenarios`: the seven scenarios; :mod:`.starter`: ``just rollout-demo``;
- :mod:`.setup`: localcluster, playbooks, Prometheus (real processes);
- :mod:`.observe`: watching the Rollout; :mod:`.live`: the live view;
- :mod:`.timeline` and :mod:`.report`: the run as data, and as a page (pure).
"""
