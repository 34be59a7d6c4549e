"""The Table interface and the tables that need no file: unknown, failing and static ones."""
from __future__ import annotations

from pathlib import Path

from pfcheck.postfix.addresses import IPV4, IPV6, ClientAddress, IntervalSet
from pfcheck.postfix.tables.keys import address_lookup_keys, domain_lookup_keys
from pfcheck.postfix.tables.registry import TABLE_TYPES, TableRef
from pfcheck.postfix.tables.results import (
    NOT_FOUND, ClientAddressResults, LookupResult, Membership, TableIssue, everything_result,
)


class Table:
    """Base class. `fixed`: Postfix's DICT_FLAG_FIXED (exact-key tables that get partial lookups)."""

    kind: str = "table"
    fixed: bool = False

    def __init__(self, ref: TableRef, source: Path | None = None) -> None:
        self.ref = ref
        self.source = source
        self.issues: list[TableIssue] = []
        self.caveats: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ref.text!r})"

    @property
    def known(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        return None

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        """One dict_get(). `fold_key`: the caller opened the table with DICT_FLAG_FOLD_FIX
        (smtpd access maps do; address lists instead casefold the key themselves)."""
        raise NotImplementedError

    # -- smtpd check_client_access ----------------------------------------------------------

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        """Could the hostname step of a client lookup find something (unknown client name)?"""
        return False

    def client_access_lookup(
        self,
        address: str,
        client_name: str | None = None,
        *,
        parent_style: bool = True,
        ipv4_enabled: bool = True,
    ) -> LookupResult:
        """check_namadr_access(): the client's verified hostname ("unknown" if none; None =
        not known to pfcheck) and its parent domains, then the address and, for exact-key
        tables, its shorter prefixes (1.2.3.4, 1.2.3, 1.2, 1; IPv6 by ':'-truncation)."""
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        name_undecided = False
        if client_name is None:
            name_undecided = self.may_match_hostnames(parent_style=parent_style)
        else:
            for key, partial in domain_lookup_keys(client_name.lower(), parent_style=parent_style):
                if partial and not self.fixed:
                    continue
                result = self.lookup(key)
                if result.error or not result.known or result.found:
                    return result
        for key, partial in address_lookup_keys(client.text):
            if partial and not self.fixed:
                continue
            result = self.lookup(key)
            if result.error or result.found or not result.known:
                if name_undecided and result.known:
                    return _undecided(result, "a hostname entry may match first")
                return result
        if name_undecided:
            return LookupResult(None, known=False, note="a hostname entry may match first")
        return NOT_FOUND

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        raise NotImplementedError

    # -- address lists (mynetworks, ...) ---------------------------------------------------

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        raise NotImplementedError


def _undecided(result: LookupResult, note: str) -> LookupResult:
    return LookupResult(result.value, False, result.line, result.found, result.error, result.key, note)


class UnknownTable(Table):
    """A table whose contents pfcheck cannot know (network service, missing file, ...)."""

    kind = "unknown"

    def __init__(self, ref: TableRef, reason: str, source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.reason = reason
        # An unreadable table keeps its type's lookup flags: partial keys reach it or not.
        table_type = TABLE_TYPES.get(ref.type)
        self.fixed = table_type is not None and table_type.fixed

    @property
    def known(self) -> bool:
        return False

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(None, known=False, note=self.reason)

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        return True

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(None, known=False, note=self.reason)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((everything_result(None, known=False),), known=False, note=self.reason)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(unknown=self.reason)


class FailingTable(Table):
    """A table Postfix cannot use: every lookup fails (smtpd: temporary error)."""

    kind = "failing"

    def __init__(self, ref: TableRef, reason: str, source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.reason = reason

    @property
    def error(self) -> str | None:
        return self.reason

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(None, error=self.reason)

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(None, error=self.reason)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((everything_result(None, error=self.reason),), note=self.reason)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(error=self.reason)


class StaticTable(Table):
    """`static:value` / `static:{ value with spaces }`: every key is found."""

    kind = "static"
    fixed = True

    def __init__(self, ref: TableRef, value: str) -> None:
        super().__init__(ref)
        self.value = value

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(self.value, key=key)

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(self.value, key=client_name if client_name is not None else client.text)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((everything_result(self.value),))

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(IntervalSet.everything(IPV4), IntervalSet.everything(IPV6))
