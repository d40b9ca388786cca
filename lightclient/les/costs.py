"""The LES cost table: what each request may cost, as advertised under ``flowControl/MRC``
(spec §7.2; geth v1.11.6 ``les/costtracker.go``).

One :class:`CostTable` is the registry both sides derive from: the server charges
``max_cost(code, count)`` before serving, the client estimates with the same numbers
(capped at BL). The default table is what a geth server without ``--light.ingress`` /
``--light.egress`` limits sends: twice geth's average serving times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from lightclient.errors import InvalidInput
from lightclient.les.codec import encode_int, encode_list, read_list, read_struct, read_uint
from lightclient.les.codes import MAX_COUNT, REQUEST_CODES, MsgCode

__all__ = [
    "AVG_TIME_COSTS",
    "BUF_LIMIT_RATIO",
    "DEFAULT_COSTS",
    "MAX_COST_FACTOR",
    "MIN_BUFFER_MULTIPLIER",
    "MIN_BUFFER_REQ_AMOUNT",
    "CostTable",
    "RequestCost",
    "make_cost_table",
    "min_buf_limit",
    "min_capacity",
    "request_count_ok",
]

MAX_COST_FACTOR = 2  # advertised cost = 2 x the average time cost
MIN_BUFFER_MULTIPLIER = 3  # minBufLimit = 3 x the largest "min buffer" request cost
BUF_LIMIT_RATIO = 6000  # BL = MRR x 6000 (6 s of minimum recharge)


@dataclass(frozen=True, slots=True)
class RequestCost:
    """``baseCost + count x reqCost`` for one message code."""

    base: int
    per_item: int

    def max_cost(self, count: int) -> int:
        return self.base + count * self.per_item


# geth's average serving times in cost units (~ns): base and per item.
AVG_TIME_COSTS: dict[MsgCode, RequestCost] = {
    MsgCode.GET_BLOCK_HEADERS: RequestCost(150_000, 30_000),
    MsgCode.GET_BLOCK_BODIES: RequestCost(0, 700_000),
    MsgCode.GET_RECEIPTS: RequestCost(0, 1_000_000),
    MsgCode.GET_CODE: RequestCost(0, 450_000),
    MsgCode.GET_PROOFS_V2: RequestCost(0, 600_000),
    MsgCode.GET_HELPER_TRIE_PROOFS: RequestCost(0, 1_000_000),
    MsgCode.SEND_TX_V2: RequestCost(0, 450_000),
    MsgCode.GET_TX_STATUS: RequestCost(0, 250_000),
}
# The request size each code must fit into the smallest buffer (minBufferReqAmount).
MIN_BUFFER_REQ_AMOUNT: dict[MsgCode, int] = {
    MsgCode.GET_BLOCK_HEADERS: 192,
    MsgCode.GET_BLOCK_BODIES: 1,
    MsgCode.GET_RECEIPTS: 1,
    MsgCode.GET_CODE: 1,
    MsgCode.GET_PROOFS_V2: 1,
    MsgCode.GET_HELPER_TRIE_PROOFS: 16,
    MsgCode.SEND_TX_V2: 8,
    MsgCode.GET_TX_STATUS: 64,
}


class CostTable(Mapping[int, RequestCost]):
    """Costs by message code (an immutable mapping), with the MRC wire encoding."""

    __slots__ = ("_costs",)

    def __init__(self, costs: Mapping[int, RequestCost] | Iterable[tuple[int, RequestCost]]):
        items = costs.items() if isinstance(costs, Mapping) else costs
        self._costs: dict[int, RequestCost] = {}
        for code, cost in items:
            if cost.base < 0 or cost.per_item < 0 or code < 0:
                raise InvalidInput("costs and codes are non-negative")
            self._costs[int(code)] = cost

    def __getitem__(self, code: int) -> RequestCost:
        return self._costs[code]

    def __iter__(self) -> Iterator[int]:
        return iter(self._costs)

    def __len__(self) -> int:
        return len(self._costs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CostTable):
            return self._costs == other._costs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._costs.items())))

    def __repr__(self) -> str:
        return f"CostTable({self._costs!r})"

    def max_cost(self, code: int, count: int) -> int:
        """What the server charges up front: ``base + count x per_item``, not capped.

        ``count`` is ``amount`` for GetBlockHeaders and the list length otherwise.
        """
        return self._costs[code].max_cost(count)

    def covers_all_requests(self) -> bool:
        """Whether every request code is priced (a geth client refuses a server otherwise)."""
        return self._costs.keys() >= REQUEST_CODES

    def encode(self) -> bytes:
        """``[[msgCode, baseCost, reqCost], ...]`` sorted by code (geth's order is random)."""
        return encode_list(
            [
                encode_list([encode_int(code), encode_int(c.base), encode_int(c.per_item)])
                for code, c in sorted(self._costs.items())
            ]
        )

    @classmethod
    def decode(cls, raw: bytes, protocol_length: int, what: str = "flowControl/MRC") -> CostTable:
        """Entries with ``msgCode >= protocol_length`` are dropped; a repeated code: last wins."""
        costs: dict[int, RequestCost] = {}
        for item in read_list(raw, what):
            code_raw, base_raw, req_raw = read_struct(item, 3, f"{what} entry")
            code = read_uint(code_raw, f"{what} msgCode")
            base = read_uint(base_raw, f"{what} baseCost")
            per_item = read_uint(req_raw, f"{what} reqCost")
            if code < protocol_length:
                costs[code] = RequestCost(base, per_item)
        return cls(costs)


def make_cost_table(min_buf_limit: int = 0) -> CostTable:
    """geth's cost list without bandwidth limits.

    With ``min_buf_limit`` set, a code whose ``base + minBufferReqAmount x per_item``
    exceeds it has both costs scaled by ``0.999 x min_buf_limit / that`` (truncated).
    """
    costs: dict[int, RequestCost] = {}
    for code, avg in AVG_TIME_COSTS.items():
        base = avg.base * MAX_COST_FACTOR
        per_item = avg.per_item * MAX_COST_FACTOR
        cost = base + per_item * MIN_BUFFER_REQ_AMOUNT[code]
        if min_buf_limit and cost > min_buf_limit:
            mul = 0.999 * min_buf_limit / cost
            base, per_item = int(base * mul), int(per_item * mul)
        costs[code] = RequestCost(base, per_item)
    return CostTable(costs)


def min_buf_limit(table: CostTable) -> int:
    """3 x the largest cost of a "minimum buffer" request (computed by geth at gf x 1.25,
    which does not change the time-based costs used here)."""
    largest = max(table.max_cost(code, MIN_BUFFER_REQ_AMOUNT[MsgCode(code)]) for code in table)
    return largest * MIN_BUFFER_MULTIPLIER


def min_capacity(buf_limit: int) -> int:
    """minCap = ceil(minBufLimit / 6000): the MRR every client gets at least."""
    return (buf_limit - 1) // BUF_LIMIT_RATIO + 1


def request_count_ok(code: int, count: int) -> bool:
    """Whether a geth server serves a request of ``count`` items (§6.1 count rule).

    A count of 0 or past the maximum is not a protocol error: the request is dropped with
    no reply, and only the incoming-size cost (0 by default) is charged.
    """
    return 0 < count <= MAX_COUNT[MsgCode(code)]


DEFAULT_COSTS = make_cost_table()
