"""The light client: trusts one checkpoint and verifies every header and bloom vector a
server sends against it (CHT and BloomTrie proofs, hash links). A server that sends
anything that does not verify is dropped; requests go to the best remaining server.

Servers are reached by their enode URL and spoken to in LES/4 over RLPx
(:class:`~lightclient.client.les_connection.LesConnection`, which needs ``genesis_hash`` and
``network_id``), through :class:`~lightclient.client.transport.LightTransport`.

Verified headers are kept in a :class:`~lightclient.client.lightchain.LightChain`: in
``<datadir>/lightchain.sqlite`` when ``datadir`` is given (a restart resumes from the stored
head after checking, by one header, that the servers' chain still has it), in memory
otherwise; at most ``cache_size`` headers are held in memory either way. Headers that do
not link to the head (a reorg past it) make the client find the common ancestor on the
server's chain by hash links and drop the stored headers above it.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from eth_keys.datatypes import PrivateKey

from lightclient.client.les_connection import HEADER_CHT_CONFIRMS, LesConnection, LesTimeouts
from lightclient.client.lightchain import CACHE_SIZE, LightChain
from lightclient.client.transport import LightTransport
from lightclient.consensus import ConsensusConfig, Engine, verify_chain
from lightclient.core.checkpoint import TrustedCheckpoint
from lightclient.core.header import Header, decode_header
from lightclient.core.proofs import verify_bloom_proof, verify_cht_proof
from lightclient.core.sections import bloom_trie_key
from lightclient.errors import (
    ConsensusError,
    HeaderSourceError,
    InvalidHeader,
    InvalidInput,
    InvalidProof,
    LesProtocolError,
    LightClientError,
    SourceUnavailable,
)
from lightclient.les.forkid import ForkFilter, ForkId
from lightclient.rlpx.keys import private_key_from_bytes

__all__ = ["LightClient", "NoServer"]

log = logging.getLogger(__name__)
HEADER_BATCH = 192
T = TypeVar("T")
R = TypeVar("R")


class NoServer(SourceUnavailable):
    """No usable light server is left."""


class _Diverged(LightClientError):
    """A server's next headers do not start from our head: a reorg, or a lie."""


@dataclass
class _Server:
    url: str
    connection: LightTransport
    score: int = 0  # verified answers minus failures


@dataclass
class LightClient:
    checkpoint: TrustedCheckpoint
    section_size: int
    server_urls: list[str]
    node_key: PrivateKey
    oracle_address: str | None = None
    servers: list[_Server] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # url -> why
    head: Header | None = None
    # LES/4 servers (enode:// URLs): the chain we are on, as our Status says it.
    genesis_hash: bytes | None = None
    network_id: int | None = None
    fork_filter: ForkFilter | None = None
    fork_id: ForkId | None = None
    les_timeouts: LesTimeouts | None = None
    # Blocks a server's head must be past a section before it counts as served (when the
    # server advertises no checkpoint): geth's 256 unless the chain's servers use fewer.
    confirmations: int = HEADER_CHT_CONFIRMS
    # The chain's consensus engine (lightclient.consensus): every header past the
    # checkpoint is checked by it. None: hash links only, on the servers' word.
    consensus_engine: Engine | None = None
    consensus_config: ConsensusConfig | None = None
    # Where the verified headers are kept: <datadir>/lightchain.sqlite (a restart resumes
    # from its head), or in memory when None; at most ``cache_size`` headers in memory.
    datadir: str | Path | None = None
    cache_size: int = CACHE_SIZE
    chain: LightChain = field(init=False, repr=False)
    _resumed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.datadir is None:
            self.chain = LightChain.memory(self.cache_size)
        else:
            self.chain = LightChain.open(
                self.datadir,
                genesis_hash=self.genesis_hash,
                checkpoint=self.checkpoint,
                section_size=self.section_size,
                cache_size=self.cache_size,
            )
        if self.head is None:
            self.head = self.chain.head()
            self._resumed = self.head is not None and self.head.number > self.checkpoint_block

    @property
    def headers(self) -> Mapping[int, Header]:
        """The verified headers held, by number (read from the light chain)."""
        return _HeaderView(self.chain)

    @property
    def td(self) -> Mapping[int, int]:
        """Total difficulty of the verified headers held, by number."""
        return _TdView(self.chain)

    @property
    def checkpoint_block(self) -> int:
        return self.checkpoint.head_block(self.section_size)

    async def _open(self, url: str) -> LightTransport:
        if not url.startswith("enode://"):
            raise InvalidInput(f"a light server is an enode:// URL, got {url!r:.80}")
        if self.genesis_hash is None or self.network_id is None:
            raise InvalidInput("an enode:// server needs the genesis hash and network ID")
        return await LesConnection.dial(
            url,
            private_key_from_bytes(self.node_key.to_bytes()),
            genesis_hash=self.genesis_hash,
            network_id=self.network_id,
            fork_filter=self.fork_filter,
            our_fork_id=self.fork_id,
            timeouts=self.les_timeouts,
            section_size=self.section_size,
            confirmations=self.confirmations,
        )

    async def start(self) -> None:
        for url in self.server_urls:
            try:
                connection = await self._open(url)
            except (SourceUnavailable, LesProtocolError) as exc:
                self.dropped[url] = str(exc)
                log.warning("light server %s: %s", url, exc)
                continue
            self.servers.append(_Server(url, connection))
        if not self.servers:
            raise NoServer("no light server could be reached: " + "; ".join(
                f"{u}: {why}" for u, why in self.dropped.items()))  # fmt: skip

    async def close(self) -> None:
        """Close the connections; a light chain in a datadir is closed too (committed
        already: every write is its own transaction)."""
        for server in self.servers:
            await server.connection.close()
        self.servers = []
        if self.datadir is not None:
            self.chain.close()

    def _best(self, section: int | None = None, skip: tuple[_Server, ...] = ()) -> _Server:
        """The best connected server (that has advertised ``section``, if given), other
        than those in ``skip`` (they failed to answer this request)."""
        usable = [s for s in self.servers if s.connection.connected and s not in skip]
        if not usable:
            raise NoServer("no usable light server is left: " + "; ".join(
                f"{u}: {why}" for u, why in self.dropped.items()))  # fmt: skip
        if section is not None:
            usable = [s for s in usable if s.connection.sections > section]
            if not usable:
                raise NoServer(f"no light server has indexed section {section} yet")
        return max(usable, key=lambda s: (s.connection.usable, s.score))

    async def _best_with(self, section: int, skip: tuple[_Server, ...] = ()) -> _Server:
        """The best server with ``section``: a server asked for a section it has not
        advertised counts it against us, so ask the servers again before giving up."""
        try:
            return self._best(section, skip)
        except NoServer:
            for server in [s for s in self.servers if s.connection.connected]:
                try:
                    await server.connection.refresh_sections()
                except (LesProtocolError, SourceUnavailable) as exc:
                    log.info("light server %s: no checkpoint: %s", server.url, exc)
            return self._best(section, skip)

    async def _drop(self, server: _Server, why: str) -> None:
        if server not in self.servers:  # dropped already, by a concurrent request
            return
        log.warning("dropping light server %s: %s", server.url, why)
        self.dropped[server.url] = why
        self.servers.remove(server)
        await server.connection.close()

    async def _ask(
        self,
        call: Callable[[LightTransport], Awaitable[T]],
        verify: Callable[[T], R],
        section: int | None = None,
        exclude: Collection[LightTransport] = (),
    ) -> R:
        """Ask the best server; a wrong answer drops it and the next one is asked. A server
        that does not answer (timeout, frozen too long, no buffer) loses a point and the
        next one is asked; when none is left, the last failure is raised."""
        unanswered = tuple(s for s in self.servers if s.connection in exclude)
        failure = "every other server was asked already" if unanswered else ""
        while True:
            try:
                server = (
                    self._best(None, unanswered)
                    if section is None
                    else await self._best_with(section, unanswered)
                )
            except NoServer:
                if not unanswered:
                    raise
                raise SourceUnavailable(f"no light server answered: {failure}") from None
            try:
                answer = await call(server.connection)
                result = verify(answer)
            except (InvalidProof, InvalidHeader, HeaderSourceError) as exc:
                if isinstance(exc, SourceUnavailable):  # the server did not answer
                    if not server.connection.connected:
                        await self._drop(server, f"lost: {exc}")
                        continue
                    server.score -= 1
                    failure = f"{server.url}: {exc}"
                    unanswered += (server,)
                    continue
                await self._drop(server, f"sent data that does not verify: {exc}")
                continue
            except LesProtocolError as exc:
                await self._drop(server, f"broke the LES protocol: {exc}")
                continue
            except (TypeError, ValueError, KeyError) as exc:
                await self._drop(server, f"sent a malformed answer: {exc}")
                continue
            server.score += 1
            return result

    async def ask(
        self,
        call: Callable[[LightTransport], Awaitable[T]],
        verify: Callable[[T], R],
        exclude: Collection[LightTransport] = (),
    ) -> R:
        """Ask the best server (not one whose connection is in ``exclude``) with ``call``
        and return ``verify`` of its answer. A server whose answer does not verify
        (``verify`` raises InvalidProof, InvalidHeader, ValueError...) is dropped and the
        next one asked; nothing unverified is returned."""
        return await self._ask(call, verify, exclude=exclude)

    def header_by_hash(self, block_hash: bytes) -> Header | None:
        """A verified header already held (the synced chain, or proved by CHT), by hash."""
        stored = self.chain.by_hash(block_hash)
        return None if stored is None else stored.header

    # -- verified data ----------------------------------------------------------------------

    async def _cht_header(self, number: int) -> tuple[Header, int]:
        cp = self.checkpoint

        def verify(answer: tuple[list[bytes], list[bytes]]) -> tuple[Header, int]:
            proof, aux = answer
            if len(aux) != 1:
                raise InvalidProof("invalid number of response entries")
            checked = verify_cht_proof(cp.cht_root, number, proof, aux[0])
            return checked.header, checked.td

        section = cp.section_index
        return await self._ask(lambda c: c.cht_proof(section, number), verify, section)

    async def header_by_number(self, number: int) -> Header:
        """A header, verified: by CHT proof up to the checkpoint, by hash links after it."""
        known = self.chain.get(number)
        if known is not None:
            return known.header
        if 0 <= number <= self.checkpoint_block:
            header, td = await self._cht_header(number)
            self.chain.put_cht(header, td, self.checkpoint.section_index)
            return header
        raise LightClientError(f"block {number} is not known (head is {self.head_number})")

    @property
    def head_number(self) -> int:
        return self.head.number if self.head is not None else self.checkpoint_block

    async def bloom_bits(self, bit: int, section: int) -> bytes:
        """The verified bit vector of bloom bit ``bit`` over ``section`` (all zero if absent)."""
        cp = self.checkpoint
        if section > cp.section_index:
            raise LightClientError(f"no trusted bloom trie for section {section}")

        def verify(proof: list[bytes]) -> bytes:
            return verify_bloom_proof(cp.bloom_root, bit, section, proof, self.section_size)

        key, index = bloom_trie_key(bit, section), cp.section_index
        return await self._ask(lambda c: c.bloom_proof(index, key), verify, index)

    async def sync(self) -> Header:
        """Jump to the checkpoint's section head by CHT proof, then follow the hash links to
        the server's head. Returns the new head."""
        cp = self.checkpoint
        start = self.checkpoint_block
        known = self.chain.get(start)
        if known is None:
            header, td = await self._cht_header(start)
            if header.hash != cp.section_head:
                raise InvalidProof("the CHT proves a section head other than the checkpoint's")
            self.chain.put_cht(header, td, cp.section_index, head=self.head is None)
            known = self.chain.get(start)
            assert known is not None
        if self._resumed:  # a stored head: is it still on the servers' chain?
            await self._rejoin()
            self._resumed = False
        head = self.head or known.header
        while True:
            server_head = await self._ask(lambda c: c.head_number(), lambda n: n)
            if server_head <= head.number:
                break
            first = head.number + 1
            amount = min(HEADER_BATCH, server_head - head.number)
            parent = head
            asked: list[LightTransport] = []

            def call(
                connection: LightTransport,
                first: int = first,
                amount: int = amount,
                asked: list[LightTransport] = asked,
            ) -> Awaitable[list[bytes]]:
                asked.append(connection)
                return _header_range(first, amount, connection)

            def verify(
                answer: list[bytes], first: int = first, parent: Header = parent
            ) -> list[Header]:
                out: list[Header] = []
                previous = parent
                for offset, raw in enumerate(answer):
                    header = decode_header(raw)
                    if offset == 0 and header.number == first and header.parent_hash != parent.hash:
                        raise _Diverged(f"header {first} does not link to the verified head")
                    if header.number != first + offset or header.parent_hash != previous.hash:
                        raise InvalidHeader(
                            f"header {first + offset} does not link to the verified chain",
                            block=first + offset,
                        )
                    out.append(header)
                    previous = header
                if not out:
                    raise InvalidHeader("the server sent no headers", block=first)
                if self.consensus_engine is not None and self.consensus_config is not None:
                    try:
                        verify_chain(parent.rlp, answer, self.consensus_engine,
                                     self.consensus_config)  # fmt: skip
                    except ConsensusError as exc:  # a lie like any other: drop the server
                        raise InvalidHeader(str(exc), block=exc.block) from None
                return out

            try:
                batch = await self._ask(call, verify)
            except _Diverged as exc:  # is our head still on that server's chain?
                self.head = head
                server = next((s for s in self.servers if s.connection is asked[-1]), None)
                if server is None:
                    continue
                if not await self._rejoin(server.connection):  # it is: the server lied
                    await self._drop(server, f"sent data that does not verify: {exc}")
                head = self.head
                continue
            self.chain.extend(batch)
            head = batch[-1]
            self.head = head
        self.head = head
        return head

    async def _rejoin(self, only: LightTransport | None = None) -> bool:
        """Find where the stored chain and the best server's (or ``only``'s) meet, by hash
        links, walking back from the stored head; drop the stored headers above that common
        ancestor (a reorg past it) and return True; False if the server's chain has our head
        (or it is behind on the same chain). After a restart, and when a server's next
        headers do not link to our head. The checkpoint's section head is the floor: a
        server whose chain does not contain it is dropped."""
        assert self.head is not None
        others = [
            s.connection for s in self.servers if only is not None and s.connection is not only
        ]

        async def ask(
            call: Callable[[LightTransport], Awaitable[T]], verify: Callable[[T], R]
        ) -> R:
            return await self._ask(call, verify, exclude=others)

        server_head = await ask(lambda c: c.head_number(), lambda n: n)
        top = min(self.head.number, server_head)
        floor = self.checkpoint_block
        if top <= floor:  # the server is not past the checkpoint: nothing to compare
            return False
        probed, probe = top, True  # first the stored head's number alone: the usual case, no reorg
        while True:
            first = top if probe else max(floor, top - HEADER_BATCH + 1)
            probe = False

            def verify(answer: list[bytes], first: int = first, top: int = top) -> int | None:
                theirs = [decode_header(raw) for raw in answer]
                if [h.number for h in theirs] != list(range(first, top + 1)):
                    raise InvalidHeader(f"asked for headers {first}-{top}", block=first)
                for lower, upper in itertools.pairwise(theirs):
                    if upper.parent_hash != lower.hash:
                        raise InvalidHeader(f"header {upper.number} does not link", block=first)
                for header in reversed(theirs):
                    ours = self.chain.get(header.number)
                    if ours is not None and ours.header.hash == header.hash:
                        return header.number
                if first == floor:
                    raise InvalidHeader("the chain does not contain the checkpoint", block=first)
                return None

            amount = top - first + 1
            found = await ask(functools.partial(_header_range, first, amount), verify)
            if found is not None:
                break
            top = first - 1
        if found < probed:  # (found == probed: the same chain; the server may be behind)
            dropped = self.chain.rewind(found)
            log.warning("reorg past the stored head %d: %d stored headers above block %d "
                        "dropped", self.head.number, dropped, found)  # fmt: skip
            stored = self.chain.get(found)
            assert stored is not None
            self.head = stored.header
            return True
        return False

    # -- what the client's own RPC serves --------------------------------------------------------

    def latest_checkpoint(self) -> TrustedCheckpoint | None:
        return self.checkpoint

    def get_checkpoint(self, index: int) -> TrustedCheckpoint | None:
        return self.checkpoint if index == self.checkpoint.section_index else None


def _header_range(first: int, amount: int, connection: LightTransport) -> Awaitable[list[bytes]]:
    return connection.header_range(first, amount)


class _HeaderView(Mapping[int, Header]):
    def __init__(self, chain: LightChain) -> None:
        self.chain = chain

    def __getitem__(self, number: int) -> Header:
        stored = self.chain.get(number)
        if stored is None:
            raise KeyError(number)
        return stored.header

    def __iter__(self) -> Iterator[int]:
        return iter(self.chain.numbers())

    def __len__(self) -> int:
        return len(self.chain)


class _TdView(Mapping[int, int]):
    def __init__(self, chain: LightChain) -> None:
        self.chain = chain

    def __getitem__(self, number: int) -> int:
        stored = self.chain.get(number)
        if stored is None:
            raise KeyError(number)
        return stored.td

    def __iter__(self) -> Iterator[int]:
        return iter(self.chain.numbers())

    def __len__(self) -> int:
        return len(self.chain)
