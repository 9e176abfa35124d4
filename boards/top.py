"""Board tops: the link top (:class:`plasticore.hdl.link.LinkTop`) on a real board.

A board top owns everything that depends on the board: the clock (a PLL from the board's
oscillator to the core clock), the reset (PLL lock, a power-on delay and, where there is
one, a button), the UART pins, the status LEDs, and the UART divisor, which it derives from
the exact PLL output frequency with :func:`plasticore.hdl.uart.uart_divisor`.

LEDs, in the order a board has them: ``busy`` (the link or the core has work), a 1 Hz
``heartbeat`` (the clock runs and reset is released), ``activity`` (a UART line toggled in
the last ~50 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from plasticore.core import CoreParams
from plasticore.hdl.echo import EchoTop
from plasticore.hdl.link import LinkTop
from plasticore.hdl.uart import uart_divisor
from plasticore.protocol import DEFAULT_BAUD

from . import clocking

__all__ = ["Board", "BOARDS", "BoardTop", "get_board"]


@dataclass(frozen=True)
class Board:
    """What the build needs to know of a board.

    ``family`` is ``ice40``, ``ecp5`` or ``xilinx7``; ``clock_hz`` is the default core
    clock (the PLL output), chosen so that the default ``neurons`` meet timing with margin;
    ``vendor_tools`` is True where the open toolchain cannot build a bitstream.
    """
    name: str
    title: str
    family: str
    platform_path: str                 # module:class in amaranth_boards
    clock_hz: float
    neurons: int
    max_neurons: int
    reset_button: str | None
    leds: tuple = ()
    vendor_tools: bool = False
    programmer: tuple = ()
    notes: str = ""
    limit: str = ""                    # what bounds max_neurons
    resources: dict = field(default_factory=dict)

    def platform(self):
        import importlib
        module, cls = self.platform_path.split(":")
        return getattr(importlib.import_module(module), cls)()


BOARDS = {
    "icebreaker": Board(
        name="icebreaker", title="iCEBreaker (iCE40UP5K-SG48)", family="ice40",
        platform_path="amaranth_boards.icebreaker:ICEBreakerPlatform",
        clock_hz=18e6, neurons=256, max_neurons=256, reset_button="button",
        limit="its four 16K x 16 SPRAMs hold 256 x 256 synapses; the 30 block RAMs are full",
        leds=(("led_r", 0), ("led_g", 0)),
        programmer=("openFPGALoader", "iceprog"),
        resources={"LUT": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8}),
    "ulx3s": Board(
        name="ulx3s", title="ULX3S-85F (LFE5U-85F-6BG381C)", family="ecp5",
        platform_path="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        clock_hz=40e6, neurons=512, max_neurons=604, reset_button="button_pwr",
        limit="N^2 x 9 bits of synapses and the per-neuron memories in 208 block RAMs "
              "(N = 604: 207; fewer with the eligibility option, see "
              "plasticore.boards.resources)",
        leds=tuple(("led", i) for i in range(3)),
        programmer=("openFPGALoader",),
        resources={"LUT": 83640, "BRAM": 208, "DSP": 156}),
    "cmod_a7": Board(
        name="cmod_a7", title="Cmod A7-35T (xc7a35tcpg236-1)", family="xilinx7",
        platform_path="amaranth_boards.cmod_a7:CmodA7_35Platform",
        clock_hz=100e6, neurons=256, max_neurons=400, reset_button="button",
        limit="N^2 x 9 bits of synapses in 50 block RAMs of 36 Kbit",
        leds=(("led", 0), ("led", 1)), vendor_tools=True,
        programmer=("openFPGALoader",),
        notes="Vivado is needed for synthesis, place and route; the open flow stops at the "
              "build files.",
        resources={"LUT": 20800, "BRAM": 50, "DSP": 90}),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"Unknown board {name!r}; the boards are "
                         f"{', '.join(sorted(BOARDS))}") from None


class BoardTop(Elaboratable):
    """The link top on a board: PLL, reset, UART pins and status LEDs.

    Parameters
    ----------
    board : Board or str
    neurons : int
        Core size N.
    baud : int
        UART rate; the divisor is ``uart_divisor(clock_hz, baud)`` (raises ``ValueError``
        when the rate is not reachable within 2 %).
    clock_hz : float, optional
        Requested core clock; the PLL makes the nearest frequency it can
        (:attr:`clock_hz` after construction).  Default: the board's.
    design : str
        ``"core"`` (default): :class:`~plasticore.hdl.link.LinkTop`; ``"echo"``: the UART
        loopback :class:`~plasticore.hdl.echo.EchoTop`, a bring-up image that checks clock,
        pins and baud rate (and the one that fits any board).

    Attributes
    ----------
    clock_hz : float
        The exact core clock.
    divisor : int
        UART clock cycles per bit.
    """

    #: Power-on delay after PLL lock, in cycles.  iCE40 block RAM reads are undefined for
    #: ~3 us after configuration (Lattice FAQ); 1,024 cycles are > 10 us at up to 100 MHz.
    POR_CYC = 1024

    def __init__(self, board: Board | str, neurons: int | None = None, *,
                 baud: int = DEFAULT_BAUD, clock_hz: float | None = None, design: str = "core",
                 options=()):
        self._MustUse__silence = True        # until constructed: no warning on a bad argument
        self.board = get_board(board) if isinstance(board, str) else board
        if design not in ("core", "echo"):
            raise ValueError(f"Design must be 'core' or 'echo', not {design!r}")
        self.design = design
        self.neurons = neurons or self.board.neurons
        if design == "core" and self.neurons > self.board.max_neurons:
            raise ValueError(f"{self.board.title} holds at most {self.board.max_neurons} "
                             f"neurons, not {self.neurons} ({self.board.limit})")
        self.params = CoreParams(self.neurons, **dict.fromkeys(options, True))
        from plasticore.hdl.core import IMPLEMENTED_OPTIONS
        missing = sorted(self.params.options - set(IMPLEMENTED_OPTIONS))
        if missing:
            raise ValueError(f"The gateware does not implement the learning option(s) "
                             f"{', '.join(missing)} yet (only "
                             f"{', '.join(IMPLEMENTED_OPTIONS)}).")
        self.f_in = self._oscillator_hz()
        want = clock_hz or self.board.clock_hz
        fam = self.board.family
        if want == self.f_in:
            self.pll_params, self.clock_hz = None, float(self.f_in)
        elif fam == "ice40":
            self.pll_params, self.clock_hz = clocking.ice40_pll_params(self.f_in, want)
        elif fam == "ecp5":
            self.pll_params, self.clock_hz = clocking.ecp5_pll_params(self.f_in, want)
        else:
            self.pll_params, self.clock_hz = clocking.mmcm_params(self.f_in, want)
        self.baud = baud
        self.divisor = uart_divisor(self.clock_hz, baud)
        self._MustUse__silence = False

    def make_design(self):
        """The board-independent design: a new :class:`LinkTop` (or :class:`EchoTop`)."""
        if self.design == "core":
            return LinkTop(self.params, divisor=self.divisor, clock_hz=int(self.clock_hz))
        return EchoTop(self.divisor)

    def _oscillator_hz(self):
        platform = self.board.platform()
        return platform.lookup(platform.default_clk).clock.frequency

    def elaborate(self, platform):
        m = Module()
        board = self.board
        m.domains.sync = cd_sync = ClockDomain("sync")
        lock = Signal()
        core_clk = Signal(name="core_clk")
        m.d.comb += cd_sync.clk.eq(core_clk)
        fam = board.family
        def buffer(name, number, direction):
            buf = io.Buffer(direction, platform.request(name, number, dir="-"))
            m.submodules[f"{name}_{number}"] = buf
            return buf

        if self.pll_params is None:
            clk = buffer(platform.default_clk, 0, "i")
            m.d.comb += [core_clk.eq(clk.i), lock.eq(1)]
        elif fam == "ice40":
            pad = platform.request(platform.default_clk, dir="-")
            m.submodules.pll = clocking.ice40_pll(pad.io, self.pll_params, core_clk, lock)
        elif fam == "ecp5":
            clk = buffer(platform.default_clk, 0, "i")
            m.submodules.pll = clocking.ecp5_pll(clk.i, self.f_in, self.clock_hz,
                                                 self.pll_params, core_clk, lock)
        else:
            clk = buffer(platform.default_clk, 0, "i")
            for i, inst in enumerate(clocking.mmcm(clk.i, self.f_in, self.pll_params,
                                                   core_clk, lock)):
                m.submodules[f"mmcm{i}"] = inst
        if self.pll_params is not None:
            platform.add_clock_constraint(core_clk, self.clock_hz)

        # Reset: PLL not locked or button pressed, synchronised, then a power-on delay.
        m.domains.por = cd_por = ClockDomain("por", reset_less=False)
        m.d.comb += cd_por.clk.eq(ClockSignal("sync"))
        async_rst = ~lock
        if board.reset_button:
            btn = buffer(board.reset_button, 0, "i")
            async_rst = async_rst | btn.i
        m.submodules.rst_sync = ResetSynchronizer(async_rst, domain="por")
        por = Signal(range(self.POR_CYC + 1))
        with m.If(por != self.POR_CYC):
            m.d.por += por.eq(por + 1)
        m.d.comb += ResetSignal("sync").eq(ResetSignal("por") | (por != self.POR_CYC))

        m.submodules.link = link = self.make_design()
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [link.uart_rx.eq(rx_buf.i), tx_buf.o.eq(link.uart_tx)]

        # Status LEDs.
        beat = Signal(range(int(self.clock_hz) // 2 + 1))
        heartbeat = Signal()
        with m.If(beat == int(self.clock_hz) // 2):
            m.d.sync += [beat.eq(0), heartbeat.eq(~heartbeat)]
        with m.Else():
            m.d.sync += beat.eq(beat + 1)
        activity_cyc = int(self.clock_hz) // 20                     # 50 ms
        act = Signal(range(activity_cyc + 1))
        with m.If(~link.uart_rx | ~link.uart_tx):
            m.d.sync += act.eq(activity_cyc)
        with m.Elif(act != 0):
            m.d.sync += act.eq(act - 1)
        status = [link.busy, heartbeat, act != 0]
        for (name, number), value in zip(board.leds, status, strict=False):
            m.d.comb += buffer(name, number, "o").o.eq(value)
        return m
