"""The lint engine: the one pass from named paths to a verdict (docs/internals.md, "Engine").

    discover -> parse -> effective config -> rules -> suppress/baseline -> decide -> report

* run.py: `lint(paths, options, policies) -> LintResult`, the pass itself, in order;
* workers.py: the fork pool that evaluates rules of many directories in parallel;
* suppress.py (with directives.py): inline directives, then policy waivers, then the baseline;
* baseline.py: reading and writing baseline files (`--baseline`, `--write-baseline`);
* git_base.py: the `--base REV` revision, read with git into temporary copies;
* assumptions.py: which policy `assume:` entries the relay verdicts looked up (PF905);
* decision.py: whether each finding fails the run, decided once;
* identity.py: what makes two findings the same problem (fingerprints, baseline keys).

This package imports nothing itself: `pfcheck.findings` uses identity.py, and importing it
must not import the engine.
"""
