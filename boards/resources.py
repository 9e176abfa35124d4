"""Memory blocks of the link top on each FPGA family, predicted from the design's memories.

Logic does not grow with N (the core is time-multiplexed); memory does, and on both Lattice
boards memory is what bounds N.  :func:`memories` lists the memories of the elaborated link
top (core, dispatcher, encoder) with their word width and depth, so that every option's
layouts (wider synapse words, the rule memory, unrounded depression words) count as built.
:func:`predict` maps each one the way Yosys 0.70's ``memory_libmap`` does with the
families' memory libraries (``share/ice40/brams.txt``, ``spram.txt``,
``share/lattice/brams_16kd.txt``, ``lutrams_trellis.txt``): every geometry the block
offers, the cheapest by the library's cost (block RAM 64 (iCE40 4 Kbit) or 128 (ECP5 18
Kbit) per block, SPRAM 2,048, distributed RAM 4 per 16 x 4 bits, logic 1 per bit).  The
prediction is checked against Yosys's own counts in ``tests/boards`` (synthesis of the
builds in ``docs/boards.md``); :func:`largest_n` is the largest core whose memories fit a
board by this count (logic, DSPs and timing need a real build: ``plasticore build``).

Limits: the synapse banks are single-port (``Geometry``), the only memories SPRAM can take;
ECP5 block RAMs are written 36 bits wide only in the pseudo-dual-port mode (``PDPW16KD``),
which is what a one-read one-write memory of more than 18 bits gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

from plasticore.core import N_MAX, N_MIN, CoreParams

__all__ = ["Memory", "memories", "predict", "fits", "shortfall", "check_fits",
           "largest_n", "FAMILIES"]

#: Block geometries (width, depth) and library costs per family.
FAMILIES = {
    # SB_RAM40_4K: 256 x 16, 512 x 8, 1K x 4, 2K x 2 read ports, and 4K x 1 as Yosys builds it;
    # Yosys writes them 16 bits wide under a mask bit per data bit (a 4K x 9 synapse bank
    # takes 9 blocks).  SB_SPRAM256KA: 16K x 16.
    "ice40": {"bram": ((16, 256), (8, 512), (4, 1024), (2, 2048), (1, 4096)), "bram_cost": 64,
              "byte": 1, "mixed": True, "spram": (16, 16384), "spram_cost": 2048},
    # DP16KD: 16K x 1 ... 1K x 18, and 512 x 36 as PDPW16KD; TRELLIS_DPR16X4: 16 x 4.
    "ecp5": {"bram": ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)),
             "bram_cost": 128, "byte": 9, "enables": (9, 18, 36), "mixed": False,
             "lutram": (4, 16),
             "lutram_cost": 4},
}

#: memory_libmap's default cost of a memory bit built from logic (flip-flops, multiplexers).
_LOGIC_COST = 1
#: Cost of a read multiplexer input per data bit, fitted to Yosys's choices: above 0.31 (the
#: ECP5 bank below) and below 1.02 (the iCE40's 12,544 x 9 bank in 29 block RAMs, not SPRAM).
_MUX_COST = 0.5


@dataclass(frozen=True)
class Memory:
    """One memory of the design: its hierarchical name, word width and depth in words;
    ``groups``: the widths of the parts of a word that are written separately (one part if
    the whole word is written at once); ``single_port``: read and write share an address
    (the core's synapse banks)."""
    name: str
    width: int
    depth: int
    groups: tuple[int, ...]
    single_port: bool = False


def _write_groups(params: CoreParams, name: str, width: int, enables: int) -> tuple[int, ...]:
    """Widths of the separately written parts of a word: the port's granularity, and for
    the bit-granular parameter and neuron memories the runs of consecutive fields that the
    same host region writes (``Core``'s memory map: a write to NEURON_PARAMS enables the
    bits of its fields in every memory that holds some; fields of no region, the spike and
    forced bits, are written alone)."""
    from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, NEURON_STATE, RULE_PARAMS
    from plasticore.hdl.core_memory import (
        NEURON_WORD,
        par_early_layout,
        par_late_layout,
        par_mid_layout,
    )

    if enables == 1:
        return (width,)
    if enables < width:
        return (width // enables,) * enables
    layouts = {"par_a": par_early_layout(params), "par_m": par_mid_layout(params),
               "par_l": par_late_layout(params),
               "neu": NEURON_WORD}
    layout = layouts.get(name.rsplit(".", 1)[-1])
    if layout is None or layout.size != width:
        raise ValueError(f"Memory {name} is written a bit at a time and its fields are not "
                         f"known to plasticore.boards.resources; add its layout there")
    regions = (NEURON_STATE, NEURON_PARAMS, LEARNING_PARAMS, RULE_PARAMS)
    groups: list[list] = []
    for field, value in layout:
        key = tuple(field in region.members for region in regions)
        key = key if any(key) else field
        if groups and groups[-1][0] == key:
            groups[-1][1] += value.width
        else:
            groups.append([key, value.width])
    return tuple(w for _, w in groups)


@lru_cache(maxsize=256)
def memories(params: CoreParams) -> tuple[Memory, ...]:
    """The memories of the link top of a core ``params`` (elaborated; ~1 s)."""
    from amaranth.hdl import Fragment
    from amaranth.hdl._mem import MemoryInstance

    from plasticore.hdl.link import LinkTop

    found = []

    def walk(fragment, path):
        for sub, name, _ in fragment.subfragments:
            here = (*path, str(name))
            if isinstance(sub, MemoryInstance):
                shape = sub._data.shape
                width = getattr(shape, "width", None) or len(sub._read_ports[0]._data)
                # The core drives each synapse bank's read and write address alike.
                bank = here[-2:-1] == ("core",) and here[-1].startswith("syn")
                name = ".".join(here)
                groups = _write_groups(params, name, width, len(sub._write_ports[0]._en))
                found.append(Memory(name, width, sub._data.depth, groups, bank))
            walk(sub, here)

    walk(Fragment.get(LinkTop(params, divisor=16), None), ())
    return tuple(found)


def _bram(family: str, mem: Memory) -> tuple[int, float]:
    """The blocks of the family's block RAM that Yosys builds ``mem`` from, and their cost.

    On the iCE40 the word may be split into slices of different geometries, as Yosys does
    there (a 12,544 x 9 synapse bank: 8 bits in 25 blocks of 512 x 8 and 1 bit in 4 of 4K
    x 1, 29 blocks); on the ECP5 Yosys keeps one geometry per memory (a 64K x 16 synapse
    bank: 64 blocks, not 60 of mixed slices).  A word written in parts needs geometries
    with write enables: on the ECP5 9, 18 and 36 bits wide, one enable per 9 bits, so each
    part takes whole 9-bit bytes (MID's bias and threshold, a_minus, reset_mode: 48 + 12 + 2
    bits take 54 + 18 + 9 = 81, three 36-bit blocks, not two); the iCE40 writes 16 bits
    under a mask bit per data bit, so any geometry does."""
    fam = FAMILIES[family]
    geometries = fam["bram"]
    width = mem.width
    if len(mem.groups) > 1 and fam["byte"] > 1:
        byte = fam["byte"]
        width = sum(ceil(g / byte) * byte for g in mem.groups)
        geometries = tuple((w, d) for w, d in geometries if w in fam["enables"])
    cost, blocks = _cheapest(width, mem.depth, tuple(geometries), fam["bram_cost"],
                             fam["mixed"])
    return blocks, cost


@lru_cache(maxsize=4096)
def _cheapest(width: int, depth: int, geometries: tuple, block_cost: int,
              mixed: bool) -> tuple[float, int]:
    """``(cost, blocks)`` of the cheapest way to build ``width`` bits of ``depth`` words:
    one geometry for the whole word, or with ``mixed`` a slice per geometry (the last may be
    narrower).  Blocks cascaded in depth need a read multiplexer: :data:`_MUX_COST` per data
    bit and extra block (why Yosys builds a 47,524 x 16 ECP5 bank from 48 blocks of 2K x 9,
    not 47 of 1K x 18)."""
    def one(bits, w, d):
        deep = ceil(depth / d)
        blocks = ceil(bits / w) * deep
        return blocks * block_cost + bits * (deep - 1) * _MUX_COST, blocks

    if not mixed:
        return min(one(width, w, d) for w, d in geometries)
    if width <= 0:
        return 0.0, 0
    options = []
    for w, d in geometries:
        head = one(min(w, width), w, d)
        rest = _cheapest(width - w, depth, geometries, block_cost, mixed)
        options.append((head[0] + rest[0], head[1] + rest[1]))
    return min(options)


def _map(family: str, mem: Memory) -> tuple[str, int]:
    """The cheapest resource for ``mem``: ``(kind, count)`` with kind ``bram``, ``spram``,
    ``lutram`` (count: 16 x 4 cells) or ``logic`` (count: bits)."""
    fam = FAMILIES[family]
    blocks, cost = _bram(family, mem)
    bits = mem.width * mem.depth
    # Logic first: at equal cost Yosys builds the memory from logic (the iCE40's 4 x 32-bit
    # pair memories of N = 8: 128 bits against two 64-cost blocks).
    options = [(bits * _LOGIC_COST, "logic", bits), (cost, "bram", blocks)]
    if "spram" in fam and mem.single_port:
        w, d = fam["spram"]
        n = ceil(mem.width / w) * ceil(mem.depth / d)
        options.append((n * fam["spram_cost"], "spram", n))
    if "lutram" in fam:
        # a write enable per 16 x 4 cell: separately written parts take whole cells
        w, d = fam["lutram"]
        width = sum(ceil(g / w) * w for g in mem.groups)
        cost, n = _cheapest(width, mem.depth, ((w, d),), fam["lutram_cost"], False)
        options.append((cost, "lutram", n))
    _, kind, count = min(options, key=lambda o: o[0])
    return kind, count


def predict(family: str, params: CoreParams) -> dict:
    """Predicted use of ``family``'s memory resources by the link top of ``params``:
    ``{"bram": blocks, "spram": blocks, "lutram": 16x4 cells, "logic": bits, "map":
    {memory name: (kind, count)}}``."""
    if family not in FAMILIES:
        raise ValueError(f"No memory model for the {family!r} family; there are "
                         f"{', '.join(FAMILIES)}")
    out: dict = {"bram": 0, "spram": 0, "lutram": 0, "logic": 0, "map": {}}
    for mem in memories(params):
        kind, count = _map(family, mem)
        out[kind] += count
        out["map"][mem.name] = (kind, count)
    return out


def shortfall(board, params: CoreParams) -> list[tuple[str, int, int]]:
    """``(resource, predicted, available)`` for each memory resource of ``board`` (a Board)
    that the link top of ``params`` needs more of than the board has; empty if it fits."""
    use = predict(board.family, params)
    return [(kind, use[kind], board.resources.get(kind.upper(), 0))
            for kind in ("bram", "spram") if use[kind] > board.resources.get(kind.upper(), 0)]


def fits(board, params: CoreParams) -> bool:
    """Whether the predicted memory blocks of ``params`` fit ``board`` (a Board)."""
    return not shortfall(board, params)


def check_fits(board, params: CoreParams) -> None:
    """Raise ``ValueError`` naming the memory a core ``params`` lacks on ``board``, before a
    build that would fail in place and route after minutes; nothing for boards without a
    memory model (the Cmod A7: Vivado)."""
    if board.family not in FAMILIES:
        return
    short = shortfall(board, params)
    if short:
        opts = ", ".join(sorted(params.options)) or "no learning options"
        need = "; ".join(f"{used} {_NAMES[kind]} of the {avail} it has"
                         for kind, used, avail in short)
        raise ValueError(f"A core of N = {params.n} with {opts} does not fit {board.title}: "
                         f"its memories need {need}. Choose another N (python "
                         f"benchmarks/boards.py --largest lists the largest N per option).")


_NAMES = {"bram": "block RAMs", "spram": "SPRAMs"}


def largest_n(board, options=(), hi: int | None = None, step: int = 4) -> int | None:
    """The largest N (a multiple of ``step``, at most ``hi``, default the smaller of
    ``board.max_neurons`` ... :data:`N_MAX`: pass ``hi`` to look past the board's limit)
    whose predicted memory blocks fit ``board`` with the learning ``options``, or None if
    no N does.

    Searched downwards from ``hi`` in strides of 16 ``step`` and then upwards in ``step``
    from the first stride that fits: block counts are not monotonic in N everywhere (on the
    iCE40 a small synapse bank is cheaper as block RAM than as SPRAM), so this finds the
    largest fitting N unless a non-fitting one lies between two fitting strides."""
    hi = min(hi or board.max_neurons, N_MAX)
    hi -= hi % step

    def ok(n):
        return fits(board, CoreParams(n, **dict.fromkeys(options, True)))

    stride = 16 * step
    n = hi
    while n >= N_MIN and not ok(n):
        n -= stride
    if n < N_MIN:
        n = next((m for m in range(N_MIN + (-N_MIN) % step, N_MIN + stride, step)
                  if m <= hi and ok(m)), None)
        if n is None:
            return None
    while n + step <= hi and ok(n + step):
        n += step
    return n
