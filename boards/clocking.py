"""Clock generators of the supported FPGA families: PLL parameter search and instances.

Each ``*_pll_params`` function returns the parameters that give the output frequency
closest to the requested one within the datasheet limits, and the frequency they give; the
board uses that exact frequency for its timing constraint and its UART divisor.

Limits:

* iCE40 ``SB_PLL40`` (Lattice TN1251, "iCE40 sysCLOCK PLL Design and Usage Guide"): phase
  detector input 10-133 MHz, VCO 533-1066 MHz, output 16-275 MHz;
  ``f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)``.
* ECP5 ``EHXPLLL`` (Lattice TN1263, "ECP5 sysCLOCK PLL/DLL Design and Usage Guide"):
  phase detector 3.125-400 MHz, VCO 400-800 MHz, output 3.125-400 MHz;
  ``f_out = f_in * CLKFB_DIV / CLKI_DIV``, ``f_vco = f_out * CLKOP_DIV``.
* Artix-7 ``MMCME2_BASE`` (Xilinx DS181, speed grade -1): VCO 600-1200 MHz, phase
  detector 10-450 MHz; multiplier and output divider in steps of 1/8.
"""

from __future__ import annotations

from amaranth.hdl import Const, Instance, Signal

__all__ = ["ice40_pll_params", "ecp5_pll_params", "mmcm_params", "ice40_pll", "ecp5_pll",
           "mmcm"]


def _check(f_out, lo, hi, what):
    if not lo <= f_out <= hi:
        raise ValueError(f"The {what} cannot make {f_out / 1e6:g} MHz: its output range is "
                         f"{lo / 1e6:g} to {hi / 1e6:g} MHz")


def ice40_pll_params(f_in: float, f_out: float) -> tuple[dict, float]:
    """``(params, f_achieved)`` of an iCE40 ``SB_PLL40`` in SIMPLE feedback mode."""
    _check(f_out, 16e6, 275e6, "iCE40 PLL")
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / 2 ** divq
                if best is None or abs(f - f_out) < abs(best[0] - f_out):
                    best = (f, divr, divf, divq, f_pfd)
    if best is None:
        raise ValueError(f"No iCE40 PLL setting makes {f_out / 1e6:g} MHz from "
                         f"{f_in / 1e6:g} MHz")
    f, divr, divf, divq, f_pfd = best
    # icepll's loop-filter choice for the phase-detector frequency.
    filter_range = next(r for r, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12), 1)
                        if f_pfd < lim)
    return {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range}, f


def ecp5_pll_params(f_in: float, f_out: float) -> tuple[dict, float]:
    """``(params, f_achieved)`` of an ECP5 ``EHXPLLL`` with CLKOP feedback."""
    _check(f_out, 3.125e6, 400e6, "ECP5 PLL")
    best = None
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f = f_pfd * clkfb
            for clkop in range(1, 129):
                if 400e6 <= f * clkop <= 800e6:
                    if best is None or abs(f - f_out) < abs(best[0] - f_out):
                        best = (f, clki, clkfb, clkop)
                    break
    if best is None:
        raise ValueError(f"No ECP5 PLL setting makes {f_out / 1e6:g} MHz from "
                         f"{f_in / 1e6:g} MHz")
    f, clki, clkfb, clkop = best
    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
            "CLKOP_CPHASE": clkop - 1}, f


def mmcm_params(f_in: float, f_out: float) -> tuple[dict, float]:
    """``(params, f_achieved)`` of an Artix-7 ``MMCME2_BASE`` (DIVCLK_DIVIDE = 1)."""
    _check(f_out, 4.69e6, 800e6, "Artix-7 MMCM")
    best = None
    for mult8 in range(16, 513):                   # CLKFBOUT_MULT_F 2.000..64.000 by 1/8
        f_vco = f_in * mult8 / 8
        if not 600e6 <= f_vco <= 1200e6:
            continue
        for div8 in range(8, 1025):                # CLKOUT0_DIVIDE_F 1.000..128.000 by 1/8
            f = f_vco * 8 / div8
            if best is None or abs(f - f_out) < abs(best[0] - f_out):
                best = (f, mult8, div8)
    if best is None:
        raise ValueError(f"No MMCM setting makes {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz")
    f, mult8, div8 = best
    return {"CLKFBOUT_MULT_F": mult8 / 8, "CLKOUT0_DIVIDE_F": div8 / 8,
            "DIVCLK_DIVIDE": 1}, f


def ice40_pll(pad, params, out: Signal, lock: Signal) -> Instance:
    """``SB_PLL40_PAD`` driven straight from the clock pin ``pad`` (an I/O port; on the
    iCE40UP5K the PLL's reference must come from its own pad, pin 35 on SG48)."""
    return Instance("SB_PLL40_PAD",
                    p_FEEDBACK_PATH="SIMPLE",
                    p_DIVR=params["DIVR"], p_DIVF=params["DIVF"], p_DIVQ=params["DIVQ"],
                    p_FILTER_RANGE=params["FILTER_RANGE"],
                    i_PACKAGEPIN=pad, i_RESETB=Const(1), i_BYPASS=Const(0),
                    o_PLLOUTGLOBAL=out, o_LOCK=lock)


def ecp5_pll(clk_in, f_in, f_out, params, out: Signal, lock: Signal) -> Instance:
    """``EHXPLLL`` with CLKOP as output and feedback."""
    return Instance("EHXPLLL",
                    a_FREQUENCY_PIN_CLKI=f"{f_in / 1e6:g}",
                    a_FREQUENCY_PIN_CLKOP=f"{f_out / 1e6:g}",
                    a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
                    a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                    p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                    p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                    p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                    p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                    **{f"p_{k}": v for k, v in params.items()},
                    i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_in, i_CLKFB=out,
                    i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(0),
                    i_PHASESTEP=Const(0), i_PHASELOADREG=Const(0), i_PLLWAKESYNC=Const(0),
                    i_ENCLKOP=Const(0),
                    o_CLKOP=out, o_LOCK=lock)


def mmcm(clk_in, f_in, params, out: Signal, lock: Signal) -> list[Instance]:
    """``MMCME2_BASE`` and the ``BUFG`` of its output (and of its feedback)."""
    fb, fb_buf, clk0 = Signal(), Signal(), Signal()
    return [
        Instance("MMCME2_BASE",
                 p_BANDWIDTH="OPTIMIZED", p_CLKIN1_PERIOD=round(1e9 / f_in, 3),
                 p_CLKFBOUT_MULT_F=params["CLKFBOUT_MULT_F"],
                 p_CLKOUT0_DIVIDE_F=params["CLKOUT0_DIVIDE_F"],
                 p_DIVCLK_DIVIDE=params["DIVCLK_DIVIDE"],
                 i_CLKIN1=clk_in, i_CLKFBIN=fb_buf, i_RST=Const(0), i_PWRDWN=Const(0),
                 o_CLKFBOUT=fb, o_CLKOUT0=clk0, o_LOCKED=lock),
        Instance("BUFG", i_I=fb, o_O=fb_buf),
        Instance("BUFG", i_I=clk0, o_O=out),
    ]

