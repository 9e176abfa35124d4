"""The link-level top: the protocol of :mod:`plasticore.protocol` on the core's access
port, behind the frame layer and the UART.

::

    uart_rx -> UARTRx -> COBSDecoder -> CRCChecker -> Dispatcher <-> Core (access port)
    uart_tx <- UARTTx <- COBSEncoder (512-byte ring) <- CRCAppender <-'

:class:`~.dispatch.Dispatcher` (:mod:`.dispatch`, re-exported here) answers exactly the
bytes that the virtual chip (:mod:`plasticore.driver.virtual`, the executable specification)
answers for the same request stream; ``tests/link/test_dispatcher.py`` checks this.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream as stream_
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore import protocol as P
from plasticore.core import CoreParams

from .core import Core
from .dispatch import STREAM_DEFAULT, Dispatcher
from .framing import TOKEN, COBSDecoder, COBSEncoder, CRCAppender, CRCChecker, StreamRegister
from .uart import UARTRx, UARTTx

__all__ = ["Dispatcher", "Link", "LinkTop", "ByteLinkTop", "build_hash"]


def build_hash(n: int, clock_hz: int, divisor: int) -> int:
    """Identifies a build: the contract and the elaboration parameters, 32 bits."""
    import hashlib
    text = f"{P.contract_hash():08x}/{n}/{clock_hz}/{divisor}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


class Link(wiring.Component):
    """The core behind its frame layer and dispatcher: protocol bytes in, protocol bytes out.

    ``sink`` takes the bytes a host sends (from a UART receiver, or a testbench); ``source``
    gives the bytes of the answers (COBS-encoded frames).  :class:`LinkTop` adds the UART.

    Members
    -------
    sink : In(stream.Signature(8))
    source : Out(stream.Signature(8))
    uart_error : In(1)
        Strobe per byte the UART receiver dropped (counted in STATUS).
    busy : Out(1)
        A request is buffered or executing, the core is busy, or an answer is on its way.
    """

    def __init__(self, params: CoreParams | int, *, build: int = 0, clock_hz: int = 0,
                 stream: tuple[str, ...] = STREAM_DEFAULT):
        self.core_params = params if isinstance(params, CoreParams) else CoreParams(params)
        self.build = build
        self.clock_hz = clock_hz
        self.stream = tuple(stream)
        super().__init__({"sink": In(stream_.Signature(8)), "source": Out(stream_.Signature(8)),
                          "uart_error": In(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec = dec = COBSDecoder()
        m.submodules.chk = chk = CRCChecker()
        m.submodules.disp = disp = Dispatcher(self.core_params, build=self.build,
                                              clock_hz=self.clock_hz, stream=self.stream)
        m.submodules.core = core = Core(self.core_params)
        m.submodules.app = app = CRCAppender()
        m.submodules.answer_reg = answer_reg = StreamRegister(TOKEN)
        m.submodules.enc = enc = COBSEncoder()
        wiring.connect(m, wiring.flipped(self.sink), dec.sink)
        wiring.connect(m, dec.source, chk.sink)
        wiring.connect(m, chk.source, disp.sink)
        wiring.connect(m, disp.req, core.req)
        wiring.connect(m, core.rsp, disp.rsp)
        wiring.connect(m, disp.source, app.sink)
        wiring.connect(m, app.source, answer_reg.sink)
        wiring.connect(m, answer_reg.source, enc.sink)
        wiring.connect(m, enc.source, wiring.flipped(self.source))
        m.d.comb += [disp.uart_error.eq(self.uart_error), disp.core_done.eq(core.done),
                     self.busy.eq(disp.busy | core.busy | answer_reg.source.valid
                                  | enc.pending)]
        return m


class LinkTop(wiring.Component):
    """A core behind its UART link: what a board (or the simulated board) runs.

    Parameters
    ----------
    params : CoreParams
    divisor : int
        Clock cycles per UART bit (:func:`~.uart.uart_divisor` of the board clock).
    clock_hz : int
        Reported by IDENTIFY.

    Members
    -------
    uart_rx : In(1), uart_tx : Out(1)
        The serial pins (idle high).
    busy : Out(1)
        The link or the core has work in progress (the simulated board sleeps otherwise).
    """

    def __init__(self, params: CoreParams | int, *, divisor: int, clock_hz: int = 0,
                 stream: tuple[str, ...] = STREAM_DEFAULT):
        self.core_params = params if isinstance(params, CoreParams) else CoreParams(params)
        self.divisor = divisor
        self.clock_hz = clock_hz
        self.stream = tuple(stream)
        self.build = build_hash(self.core_params.n, clock_hz, divisor)
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.link = link = Link(self.core_params, build=self.build,
                                        clock_hz=self.clock_hz, stream=self.stream)
        # The encoder's ring queues up to 512 bytes, so the dispatcher computes the next steps
        # while the line sends the last ones.
        m.submodules.tx = tx = UARTTx(self.divisor)
        wiring.connect(m, rx.source, link.sink)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                     link.uart_error.eq(rx.frame_error | rx.overrun),
                     self.busy.eq(link.busy | rx.source.valid | ~tx.sink.ready)]
        wiring.connect(m, link.source, tx.sink)
        return m


class ByteLinkTop(wiring.Component):
    """A core behind its link without the UART PHY: :class:`Link`'s byte streams as plain
    ports, for the simulated board's byte-level transport (``docs/simulated-board.md``).

    Everything between the two UART PHYs of :class:`LinkTop` is the same gateware (frame
    layer, dispatcher, core, encoder ring); only the bit timing of the line is gone, so a
    byte can enter or leave every cycle instead of every ``10 * divisor`` cycles (the
    simulated board still delivers the host's bytes at the line rate).  Stands for
    the :class:`LinkTop` of the same ``params``, ``divisor`` and ``clock_hz``: IDENTIFY
    reports the same build hash.

    Members
    -------
    rx_data : In(8), rx_valid : In(1), rx_ready : Out(1)
        The bytes of the host: one is taken in every cycle in which both valid and ready are
        high (``ready`` does not depend on ``valid``).
    rx_error : In(1)
        One-cycle strobe per host byte lost before the link took it (the UART receiver's
        overrun; the simulated board's harness paces the bytes at the line rate and strobes
        it where the UART would overrun).  Counted in STATUS as the UART's errors are.
    tx_data : Out(8), tx_valid : Out(1), tx_ready : In(1)
        The bytes of the answers, with the same handshake.
    busy : Out(1)
        The link or the core has work in progress, or an answer byte waits.
    """

    def __init__(self, params: CoreParams | int, *, divisor: int, clock_hz: int = 0,
                 stream: tuple[str, ...] = STREAM_DEFAULT):
        self.core_params = params if isinstance(params, CoreParams) else CoreParams(params)
        self.divisor = divisor
        self.clock_hz = clock_hz
        self.stream = tuple(stream)
        self.build = build_hash(self.core_params.n, clock_hz, divisor)
        super().__init__({"rx_data": In(8), "rx_valid": In(1), "rx_ready": Out(1),
                          "rx_error": In(1), "tx_data": Out(8), "tx_valid": Out(1),
                          "tx_ready": In(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = Link(self.core_params, build=self.build,
                                        clock_hz=self.clock_hz, stream=self.stream)
        m.d.comb += [link.sink.payload.eq(self.rx_data), link.sink.valid.eq(self.rx_valid),
                     self.rx_ready.eq(link.sink.ready),
                     self.tx_data.eq(link.source.payload), self.tx_valid.eq(link.source.valid),
                     link.source.ready.eq(self.tx_ready),
                     link.uart_error.eq(self.rx_error),
                     self.busy.eq(link.busy | link.source.valid)]
        return m
