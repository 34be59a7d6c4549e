"""The YAML policy (`.pfcheck.yaml`): loading, strict validation, built-in default, discovery.

See docs/policy.md for the file format. The steps: yaml_safe.py (bytes, composing, limits) ->
validate.py (nodes to a `Policy`) -> model.py (the result); load.py reads files and the built-in
policy; discover.py finds the policy governing a path; networks.py and globs.py are the syntaxes
of option values and paths.
"""
from __future__ import annotations

from pfcheck.policy.discover import (
    PolicyResolver,
    find_policy,
)
from pfcheck.policy.load import (
    builtin_policy_text,
    default_policy,
    load_policy,
    parse_policy,
)
from pfcheck.policy.model import (
    BOOLEAN,
    DEFAULT_POSTFIX_VERSION,
    FAIL_ON_WORDS,
    INTEGER,
    MAX_EXPANDED_NODES,
    MAX_FLOW_DEPTH,
    MAX_POLICY_BYTES,
    NETWORKS,
    NetworkList,
    OPTION_KINDS,
    OptionSpec,
    POLICY_FILE_NAMES,
    Policy,
    PolicyError,
    RulePolicy,
    RuleSpec,
    SCHEMA_VERSION,
    SEVERITY_WORDS,
    STRING,
    STRINGS,
    SUPPRESSION_MODES,
    Waiver,
)
from pfcheck.policy.networks import (
    Network,
    parse_policy_network,
)
from pfcheck.policy.validate import (
    supported_postfix_versions,
)
__all__ = [
    "BOOLEAN",
    "DEFAULT_POSTFIX_VERSION",
    "FAIL_ON_WORDS",
    "INTEGER",
    "MAX_EXPANDED_NODES",
    "MAX_FLOW_DEPTH",
    "MAX_POLICY_BYTES",
    "NETWORKS",
    "Network",
    "NetworkList",
    "OPTION_KINDS",
    "OptionSpec",
    "POLICY_FILE_NAMES",
    "Policy",
    "PolicyError",
    "PolicyResolver",
    "RulePolicy",
    "RuleSpec",
    "SCHEMA_VERSION",
    "SEVERITY_WORDS",
    "STRING",
    "STRINGS",
    "SUPPRESSION_MODES",
    "Waiver",
    "builtin_policy_text",
    "default_policy",
    "find_policy",
    "load_policy",
    "parse_policy",
    "parse_policy_network",
    "supported_postfix_versions",
]
