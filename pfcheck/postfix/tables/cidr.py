"""cidr_table(5): `dict_cidr.c` and `cidr_match.c`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pfcheck.postfix.addresses import (
    IPV4, IPV6, CidrPattern, ClientAddress, IntervalSet, parse_address, parse_cidr_pattern,
)
from pfcheck.postfix.tables.base import Table
from pfcheck.postfix.tables.registry import TableRef
from pfcheck.postfix.tables.results import (
    NOT_FOUND, AddressResult, ClientAddressResults, LookupResult, Membership, TableIssue,
    first_match_results,
)
from pfcheck.postfix.tables.source_text import SPACE, logical_lines, negation_prefix


@dataclass(frozen=True)
class CidrRule:
    op: str  # "match", "if", "endif"
    pattern: CidrPattern | None
    match: bool  # False for "!pattern"
    value: str
    line: int
    block_end: int | None = None  # index of the matching ENDIF (IF rules)


class CidrTable(Table):
    """cidr_table(5): ordered rules, first match wins; IF/ENDIF blocks; `!` negation.

    Bad rules are skipped with Postfix's warning (`issues`); they never cause lookup errors.
    A negated rule only applies to addresses of its own family.
    """

    kind = "cidr"
    fixed = False

    def __init__(self, ref: TableRef, rules: list[CidrRule], source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.rules = rules

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        family = IPV6 if ":" in key else IPV4
        value = parse_address(key, family)
        if value is None:
            return NOT_FOUND
        client = ClientAddress.of(value, family)
        index = 0
        while index < len(self.rules):
            rule = self.rules[index]
            if rule.op == "match":
                if self._applies(rule, client):
                    return LookupResult(rule.value, line=rule.line, key=key)
            elif rule.op == "if":
                if not self._applies(rule, client):
                    if rule.block_end is None:
                        return NOT_FOUND  # an IF without ENDIF has no end-of-block entry
                    index = rule.block_end
            index += 1
        return NOT_FOUND

    @staticmethod
    def _applies(rule: CidrRule, client: ClientAddress) -> bool:
        assert rule.pattern is not None
        if rule.pattern.family != client.family:
            return False
        return (client in rule.pattern) == rule.match

    def _rule_sets(self, family: int) -> list[tuple[int, IntervalSet]]:
        """(rule index, the addresses of `family` that reach and match it) for match rules."""
        result: list[tuple[int, IntervalSet]] = []
        conditions: list[IntervalSet] = []
        scope_ends: list[int | None] = []
        everything = IntervalSet.everything(family)
        for index, rule in enumerate(self.rules):
            while scope_ends and scope_ends[-1] is not None and index > scope_ends[-1]:
                scope_ends.pop()
                conditions.pop()
            if rule.op == "endif":
                continue
            assert rule.pattern is not None
            if rule.pattern.family != family:
                own = IntervalSet()
            else:
                network = rule.pattern.addresses
                own = network if rule.match else everything.difference(network)
            scope = own
            for condition in conditions:
                scope = scope.intersection(condition)
            if rule.op == "if":
                conditions.append(scope)
                scope_ends.append(rule.block_end)
            else:
                result.append((index, scope))
        return result

    def _rule_result(self, index: int, v4: IntervalSet, v6: IntervalSet) -> AddressResult:
        rule = self.rules[index]
        assert rule.pattern is not None
        key = ("!" if not rule.match else "") + rule.pattern.text()
        return AddressResult(v4, v6, rule.value, rule.line, key)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        by_address: list[AddressResult] = []
        for family in (IPV4, IPV6):
            entries = [
                (start, end, index)
                for index, addresses in self._rule_sets(family)
                for start, end in addresses.ranges
            ]
            by_address.extend(first_match_results(family, entries, self._rule_result))
        return ClientAddressResults(tuple(by_address))

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        sets = {}
        for family in (IPV4, IPV6):
            combined = IntervalSet()
            for _, addresses in self._rule_sets(family):
                combined = combined.union(addresses)
            sets[family] = combined
        return Membership(sets[IPV4], sets[IPV6])


def load_cidr(ref: TableRef, text: str, path: Path) -> Table:
    lines, issues = logical_lines(text)
    rules: list[CidrRule] = []
    if_stack: list[int] = []

    def skip(number: int, why: str) -> None:
        issues.append(TableIssue(number, f"cidr map {ref.name}, line {number}: {why}: skipping this rule"))

    def pattern_or_skip(number: int, pattern_text: str) -> CidrPattern | None:
        """The rule's pattern, or None after Postfix's warning for a missing or bad one."""
        if not pattern_text:
            skip(number, "no address pattern")
            return None
        parsed = parse_cidr_pattern(pattern_text)
        if isinstance(parsed, str):
            skip(number, parsed)
            return None
        return parsed

    for number, line in lines:
        lowered = line.lower()
        if lowered.startswith("if") and not (len(line) > 2 and line[2].isalnum()):
            rest = line[2:]
            match, position = negation_prefix(rest)
            parsed = pattern_or_skip(number, rest[position:].rstrip(SPACE))
            if parsed is None:
                continue
            if_stack.append(len(rules))
            rules.append(CidrRule("if", parsed, match, "", number))
            continue
        if lowered.startswith("endif") and not (len(line) > 5 and line[5].isalnum()):
            if line[5:].strip(SPACE):
                skip(number, "garbage after ENDIF")
                continue
            if not if_stack:
                skip(number, "ENDIF without IF")
                continue
            opened = if_stack.pop()
            opening = rules[opened]
            rules[opened] = CidrRule(opening.op, opening.pattern, opening.match, opening.value,
                                     opening.line, block_end=len(rules))
            rules.append(CidrRule("endif", None, True, "", number))
            continue
        match, position = negation_prefix(line)
        rest = line[position:]
        end = 0
        while end < len(rest) and rest[end] not in SPACE:
            end += 1
        pattern_text, value = rest[:end], rest[end:].strip(SPACE)
        parsed = pattern_or_skip(number, pattern_text)
        if parsed is None:
            continue
        if not value:
            skip(number, "no lookup result")
            continue
        rules.append(CidrRule("match", parsed, match, value, number))
    for opened in if_stack:
        issues.append(TableIssue(rules[opened].line,
                                 f"cidr map {ref.name}, line {rules[opened].line}: IF has no matching ENDIF"))
    table = CidrTable(ref, rules, path)
    table.issues.extend(issues)
    return table
