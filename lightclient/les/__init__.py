"""LES/4 as go-ethereum v1.11.6 speaks it: messages, Status, fork IDs, costs and flow
control (spec ``les-wire.md`` §0, §4, §5, §6.1, §7). Pure data and arithmetic: no I/O.

Modules: :mod:`~lightclient.les.codes` (message codes, versions, limits),
:mod:`~lightclient.les.codec` (strict RLP readers), :mod:`~lightclient.les.keyvalue`
(Status/Announce key lists), :mod:`~lightclient.les.forkid` (EIP-2124),
:mod:`~lightclient.les.costs` (the MRC cost table), :mod:`~lightclient.les.status`
(handshake), :mod:`~lightclient.les.announce` (announcements and signatures),
:mod:`~lightclient.les.messages` (every message, ``decode_message``),
:mod:`~lightclient.les.flowcontrol` (buffer accounting on both sides).
"""
