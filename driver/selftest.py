"""The self-test of a core: what to run first on a new board (``plasticore selftest``).

Four checks, in order; each gives a :class:`Check` (pass or fail, what was seen, and on
failure what to do):

1. **identify**: the device answers IDENTIFY with this driver's protocol and contract
   (protocol version, contract hash, gateware build, N, clock).  Without an answer nothing
   else runs.
2. **line**: growing payloads (1 byte up to a full frame) written to the start of the
   weight memory and read back, byte for byte, with the link's error counters (STATUS:
   CRC errors, UART errors, rejected frames) read before and after; any corrupted byte or
   any counted error fails.  The first weights are restored afterwards.
3. **march**: every writable memory region (weights, plasticity bits, neuron parameters,
   learning parameters, neuron state, spike bits) is saved, then written and read back in
   full with a sequence of backgrounds (all zeros, all ones, the 0x55 / 0xAA checkerboards,
   and a pattern unique to each word, which catches address faults), then restored and
   checked.  Parameter and state words take legal values only (each field at its minimum,
   its maximum, alternating, and a per-word value), since the core refuses words outside
   their formats.  A bit that reads back wrong is reported as "region X, word Y, bit B
   reads V".
4. **learning**: a known-answer run: a fixed small network (seeded, every neuron driven)
   is loaded, run with learning on, and every step's spikes and the full snapshot after the
   run are compared with :class:`plasticore.sim.Reference`.

The core is left cleared (every memory zero, learning off).  The checks use only the
protocol, so they run unchanged on ``virtual``, ``sim``, a netlist board and a real board.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    OPTION_FIELDS,
    OPTIONS,
    RULE_PARAMS,
    TRIPLET_STATE,
    CoreConfig,
    CoreParams,
    Table,
    _field_range,
)

from .cables import NO_CABLE
from .chip import Chip, DriverError

__all__ = ["Check", "line_check", "march_check", "learning_check", "identify_check",
           "run_checks", "REGIONS", "NO_CABLE"]

#: The writable regions the march test covers, and the table layout of each word (None:
#: one-byte words).  A core is marched over the ones it has (:func:`protocol.region_present`
#: for its learning options).
REGIONS: dict[P.WireRegion, Any] = {
    P.WireRegion.WEIGHTS: None, P.WireRegion.PLASTIC: None,
    P.WireRegion.NEURON_PARAMS: NEURON_PARAMS, P.WireRegion.LEARNING_PARAMS: LEARNING_PARAMS,
    P.WireRegion.NEURON_STATE: NEURON_STATE, P.WireRegion.SPIKES: None,
    P.WireRegion.ELIGIBILITY: None, P.WireRegion.RULE_PARAMS: RULE_PARAMS,
    P.WireRegion.TRIPLET_STATE: TRIPLET_STATE,
}
#: Stuck bits listed per failing region before "... and K more".
_SHOW = 4


@dataclasses.dataclass
class Check:
    """One check's outcome: ``name``, ``ok``, ``detail`` (what was seen) and ``advice``
    (what to do; empty when it passed)."""

    name: str
    ok: bool
    detail: str
    advice: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n     -> {self.advice}"


def identify_check(chip: Chip) -> Check:
    """The identity of an open chip (its contract was already checked by ``Chip.open``)."""
    i = chip.identify()
    kind = "virtual chip" if i.kind == 1 else "gateware"
    clock = f"{i.clock_hz / 1e6:g} MHz" if i.clock_hz else "no clock"
    return Check("identify", True, f"{kind}, protocol {i.protocol}, contract {i.contract:08x}, "
                 f"build {i.build:08x}, N = {i.neurons}, {clock}")


_ERRORS = ("crc_errors", "uart_errors", "rejected")


def line_check(chip: Chip, rng: np.random.Generator) -> Check:
    """Growing payloads through WRITE and READ of the first weights, and the link's error
    counters before and after."""
    total = P.region_words(P.WireRegion.WEIGHTS, chip.n)
    full = chip.identify().max_payload - P.ACCESS_BYTES        # one WRITE frame's words
    sizes = sorted({min(s, total) for s in (1, 16, 64, 256, full)})
    saved = chip.read_region(P.WireRegion.WEIGHTS, 0, sizes[-1])
    before = chip.status()
    bad = []
    for size in sizes:
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        chip.write_region(P.WireRegion.WEIGHTS, 0, data)
        back = chip.read_region(P.WireRegion.WEIGHTS, 0, size)
        if back != data:
            first = next(k for k in range(size) if back[k] != data[k])
            bad.append(f"{size}-byte payload differs from byte {first} on")
    chip.write_region(P.WireRegion.WEIGHTS, 0, saved)
    after = chip.status()
    errors = {k: (after[k] - before[k]) & 0xFFFF for k in _ERRORS}
    seen = (f"payloads of {', '.join(map(str, sizes))} bytes echoed; error counters "
            f"{', '.join(f'{k} +{v}' for k, v in errors.items())}")
    if not bad and not any(errors.values()):
        return Check("line", True, seen)
    return Check("line", False, "; ".join([*bad, seen]),
                 "bytes are lost or corrupted on the line: check that --baud is the rate the "
                 f"bitstream was built for (this board: {chip.baud} asked), then the cable "
                 "and USB hub; UART errors mean a wrong baud rate, CRC errors a noisy line; no "
                 "counted errors and the same bytes wrong every time: a memory fault, see "
                 "the march check")


def _table_patterns(layout: Any, n: int,
                    zero: Iterable[str] = ()) -> Iterator[tuple[str, bytes]]:
    """Legal words of ``layout``: each field at its minimum, maximum, alternating between
    the two by word, and a per-word value spread over the field's range; the fields named
    in ``zero`` (those of options a core lacks, which it holds at 0) stay 0."""
    ranges = {name: (0, 0) if name in zero else _field_range(field.shape)
              for name, field in layout}
    words = np.arange(n)

    def table(pick: Callable[[int, int], np.ndarray]) -> bytes:
        t = Table(layout, n)
        for name, (lo, hi) in ranges.items():
            t[name] = pick(lo, hi)
        return t.to_bytes()

    yield "minima", table(lambda lo, hi: np.full(n, lo))
    yield "maxima", table(lambda lo, hi: np.full(n, hi))
    yield "alternating", table(lambda lo, hi: np.where(words % 2, lo, hi))
    yield "per-word", table(lambda lo, hi: lo + (words * 0x9E3779B1 + 7) % (hi - lo + 1))


def _elig_patterns(n: int) -> Iterator[tuple[str, bytes]]:
    """Legal eligibility bytes (signed 7 bit: -64 .. 63) over all n x n synapses."""
    lo, hi = F.ELIGIBILITY.min, F.ELIGIBILITY.max
    words = np.arange(n * n)
    for name, values in (("minima", np.full(n * n, lo)), ("maxima", np.full(n * n, hi)),
                         ("alternating", np.where(words % 2, lo, hi)),
                         ("per-word", lo + (words * 0x9E3779B1 + 7) % (hi - lo + 1))):
        yield name, values.astype(np.int8).tobytes()


def _patterns(chip: Chip, region: P.WireRegion) -> Iterator[tuple[str, bytes]]:
    """The march backgrounds of ``region`` on ``chip``."""
    if region == P.WireRegion.ELIGIBILITY:
        return _elig_patterns(chip.n)
    layout = REGIONS[region]
    if layout is None:
        return _byte_patterns(region, chip.n)
    zero: set[str] = set()
    if region == P.WireRegion.RULE_PARAMS:
        for option, fields in OPTION_FIELDS.items():
            if not chip.has(option):
                zero.update(fields)
    return _table_patterns(layout, chip.n, zero)


def _byte_patterns(region: P.WireRegion, n: int) -> Iterator[tuple[str, bytes]]:
    """Byte backgrounds for a region of one-byte words; bit regions keep the bits past the
    last synapse or neuron at 0 (the core refuses them)."""
    count = P.region_words(region, n)
    valid = {P.WireRegion.PLASTIC: n * n, P.WireRegion.SPIKES: n}.get(region)
    mask = np.full(count, 0xFF, np.uint8)
    if valid is not None and valid % 8:
        mask[-1] = (1 << (valid % 8)) - 1
    words = np.arange(count)
    for name, pattern in (("zeros", np.zeros(count)), ("ones", np.full(count, 0xFF)),
                          ("0x55", np.full(count, 0x55)), ("0xAA", np.full(count, 0xAA)),
                          ("per-word", (words * 0x9D + (words >> 8) * 0x3B + 1) & 0xFF)):
        yield name, (pattern.astype(np.uint8) & mask).tobytes()


def _bit_faults(region: P.WireRegion, size: int, wrote: bytes, read: bytes) -> list[str]:
    """"word Y bit B reads V" for every bit that differs."""
    a = np.frombuffer(wrote, np.uint8)
    b = np.frombuffer(read, np.uint8)
    out = []
    for k in np.flatnonzero(a != b):
        diff = int(a[k] ^ b[k])
        for bit in range(8):
            if diff >> bit & 1:
                out.append(f"word {k // size} bit {(k % size) * 8 + bit} reads "
                           f"{int(b[k]) >> bit & 1}")
    return out


def _march_region(chip: Chip, region: P.WireRegion) -> list[str]:
    """Faults found in ``region`` (each "pattern: word Y bit B reads V"), after restoring
    its contents."""
    size = P.wire_bytes(region)
    count = P.region_words(region, chip.n)
    saved = chip.read_region(region, 0, count)
    patterns = _patterns(chip, region)
    faults: dict[str, str] = {}                    # "word Y bit B" -> first pattern's line
    for name, data in patterns:
        chip.write_region(region, 0, data)
        for fault in _bit_faults(region, size, data, chip.read_region(region, 0, count)):
            where = fault.rsplit(" reads ", 1)[0]
            faults.setdefault(where, f"{fault} ({name})")
    chip.write_region(region, 0, saved)
    if chip.read_region(region, 0, count) != saved:
        faults.setdefault("restore", "the saved contents did not read back after the test")
    return list(faults.values())


def march_check(chip: Chip) -> Check:
    """Every writable region written and read back with each pattern, then restored."""
    bad = []
    options = [o for o in OPTIONS if chip.has(o)]
    regions = [r for r in REGIONS if P.region_present(r, options)]
    for region in regions:
        faults = _march_region(chip, region)
        if faults:
            more = f" and {len(faults) - _SHOW} more" if len(faults) > _SHOW else ""
            bad.append(f"{region.name}: {'; '.join(faults[:_SHOW])}{more}")
    names = ", ".join(r.name.lower() for r in regions)
    if not bad:
        return Check("march", True, f"{names}: every pattern read back, contents restored")
    return Check("march", False, "stuck or coupled bits in " + " | ".join(bad),
                 "a memory bit does not hold what was written: rebuild and reprogram the "
                 "bitstream (plasticore build, plasticore program); if the same bit fails "
                 "again the FPGA's memory is faulty, or the build is (check the netlist "
                 "board: plasticore sim --netlist BOARD)")


def known_network(n: int, seed: int = 2026) -> tuple[CoreConfig, np.ndarray]:
    """The known-answer network: every neuron driven by a forced input every few steps,
    mixed weights, all synapses plastic, learning amplitudes large enough to move weights
    in a few steps.  Returns the configuration and the forced spikes (steps x n)."""
    from plasticore import fixed as F

    rng = np.random.default_rng(seed)
    cfg = CoreConfig(CoreParams(n))
    p, lp = cfg.neurons, cfg.learning
    p["threshold"] = rng.integers(1 << 10, 1 << 12, n)
    p["v_reset"] = 0
    p["bias"] = rng.integers(0, 1 << 6, n)
    p["alpha_v"] = F.DECAY_ONE - rng.integers(1, F.DECAY_ONE // 8, n)
    p["alpha_i"] = F.DECAY_ONE // 2
    p["refractory"] = rng.integers(0, 3, n)
    p["w_shift"] = 6
    p["reset_mode"] = rng.integers(0, 2, n)
    lp["alpha_x"] = lp["alpha_y"] = F.DECAY_ONE - F.DECAY_ONE // 8
    lp["x_inc"] = lp["y_inc"] = F.TRACE_ONE // 2
    lp["a_plus"] = rng.integers(8, 48, n)
    lp["a_minus"] = rng.integers(8, 48, n)
    lp["w_min"], lp["w_max"] = -100, 100
    cfg.weights = rng.integers(-80, 81, (n, n))
    cfg.plastic = np.ones((n, n), bool)
    forced = rng.random((40, n)) < 0.2
    return cfg.validate(), forced


def learning_check(chip: Chip) -> Check:
    """The known-answer learning run against the reference."""
    from plasticore.sim import Reference

    cfg, forced = known_network(chip.n)
    chip.clear()
    chip.load(cfg, verify=True)
    chip.learning = True
    ref = Reference(cfg, learning=True)
    rec = chip.run(len(forced), forced)
    wrong_steps = []
    for k in range(len(forced)):
        ref.step(forced[k])
        if not np.array_equal(rec.spikes[k], ref.spikes):
            wrong_steps.append(k)
    snap = chip.snapshot()
    diff = [] if snap == ref.snapshot() else snap.diff(ref.snapshot())
    moved = int((ref.weights != cfg.weights).sum())
    chip.clear()
    seen = (f"{len(forced)} steps with learning on, {int(rec.spikes.sum())} spikes, "
            f"{moved} weights changed")
    if not wrong_steps and not diff:
        return Check("learning", True, seen + "; spikes and snapshot equal the reference")
    what = (f"spikes differ at steps {wrong_steps[:8]}" if wrong_steps else "") + \
        ("; " if wrong_steps and diff else "") + "; ".join(diff[:3])
    return Check("learning", False, f"{seen}; {what}",
                 "the core computes something else than the reference: the bitstream is not "
                 "this plasticore's, or the build broke the design; rebuild from this version "
                 "and run the same self-test on the netlist board (--target netlist:BOARD)")


def run_checks(chip: Chip, *, seed: int = 1) -> list[Check]:
    """Run the line, march and learning checks on an open ``chip`` (after identify); a
    check that loses the link ends the run with a failed check naming the error."""
    rng = np.random.default_rng(seed)
    checks = [identify_check(chip)]
    for name, fn in (("line", lambda: line_check(chip, rng)), ("march", lambda: march_check(chip)),
                     ("learning", lambda: learning_check(chip))):
        try:
            checks.append(fn())
        except DriverError as e:
            checks.append(Check(name, False, f"the link failed: {e}",
                                "the board stopped answering: check the cable and the baud "
                                "rate, reprogram, and run the self-test again"))
            break
    return checks
