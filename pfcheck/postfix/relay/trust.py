"""The trusted client set (`mynetworks`) as permit_mynetworks sees it: three-valued membership."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

from pfcheck.postfix.relay.model import AddressListLike, EffectiveParams, TableResolverLike

if TYPE_CHECKING:  # annotations only: addresses is imported where it is used
    from pfcheck.postfix.addresses import IntervalSet


class Trust:
    """Three-valued trusted-set membership over an AddressList."""

    def __init__(self, address_list: Optional[AddressListLike], ipv4_enabled: bool, note: str = "") -> None:
        self._list = address_list
        self.ipv4_enabled = ipv4_enabled
        #: Why there is no list when the attacker is certainly outside it (a computed default).
        self.note = note
        # A match is a linear scan of the list (as in Postfix); lists can be huge.
        self._cache: Dict[Tuple[str, Optional[str]], Tuple[Optional[bool], Optional[str]]] = {}
        # Without items that can match a hostname the client's name makes no difference.
        self._names_matter = address_list is None or any(
            getattr(item, "dns", None) is not None for item in address_list.items)

    def match(self, address: str, client_name: Optional[str] = None) -> Tuple[Optional[bool], Optional[str]]:
        """(matched, Postfix lookup error)."""
        key = (address, client_name if self._names_matter else None)
        if key not in self._cache:
            self._cache[key] = self._match(address, client_name)
        return self._cache[key]

    def _match(self, address: str, client_name: Optional[str]) -> Tuple[Optional[bool], Optional[str]]:
        if self._list is None:
            return (False, None) if self.note else (None, None)
        result = self._list.match(address, client_name=client_name, ipv4_enabled=self.ipv4_enabled)
        return result.matched, result.error

    def covered(self, family: int) -> Optional["IntervalSet"]:
        """The IntervalSet of addresses the list trusts, may trust or fails on; None when there
        is no list to ask."""
        if self._list is None:
            return None
        spaces = self._list.trusted_networks(ipv4_enabled=self.ipv4_enabled)
        return spaces.trusted(family).union(spaces.maybe(family)).union(spaces.errors(family))

    def untrusted_address(self, family: int) -> Optional[str]:
        """An address the list certainly does not match, globally routable if possible, that
        a client can present (client_addresses); None when every such address is trusted."""
        covered = self.covered(family)
        if covered is None:
            return None
        from pfcheck.postfix import addresses, client_addresses

        outside = covered.complement(family)
        chosen = client_addresses.choose(outside, family, [addresses.GLOBAL_ADDRESSES[family]])
        if chosen is None:
            return None
        return addresses.format_address(chosen, family)


def parse_trusted(params: EffectiveParams,
                  resolver: Optional[TableResolverLike]) -> Tuple[Optional[AddressListLike], str]:
    """mynetworks through pfcheck.postfix.networks: (list, note). A computed default (the
    host's own networks, unknown to a linter) trusts none of the documentation addresses.
    networks.parse_address_list() keeps parsed lists: every listener of a directory usually
    shares one mynetworks."""
    from pfcheck.postfix import networks

    value = params.value("mynetworks")
    if value.strip().startswith("<"):
        return None, "mynetworks is computed from the server's interfaces; the attacker's address is not one of them"
    parents = params.value("parent_domain_matches_subdomains")
    try:
        return networks.parse_address_list(
            value, param="mynetworks", resolver=resolver,  # type: ignore[arg-type]
            parent_domain_matches_subdomains=parents or None), ""
    except ValueError:
        return None, ""
