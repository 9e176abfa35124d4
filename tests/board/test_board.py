"""The simulated board: bit-level UART echo over a socket and a PTY, build cache, clean
shutdown, reconnects, the busy output, errors, and the ``plasticore sim`` command."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import serial
from amaranth.hdl import Signal

from plasticore.hdl.echo import EchoTop
from plasticore.sim import board
from plasticore.sim.board import BoardBuildError, BoardError, SimulatedBoard


def payload(n, seed):
    """Corner bytes (all zeros, all ones, alternating bits, single bits), then random."""
    rng = random.Random(seed)
    corners = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0x7F, 0xFE]
    return bytes(corners + [rng.randrange(256) for _ in range(n - len(corners))])


def echo(url, data, timeout=20):
    port = serial.serial_for_url(url, timeout=timeout)
    try:
        port.write(data)
        return port.read(len(data))
    finally:
        port.close()


# ---- without a build ----------------------------------------------------------------------

class _Pins:
    def __init__(self, **signals):
        self.__dict__.update(signals)


def test_top_without_uart_tx_is_refused():
    with pytest.raises(ValueError, match=r"must have a 1-bit signal `uart_tx`"):
        board.build(_Pins(uart_rx=Signal()), divisor=12)


def test_wide_port_is_refused():
    with pytest.raises(ValueError, match=r"`uart_rx` must be 1 bit wide, not 2"):
        board.build(_Pins(uart_rx=Signal(2), uart_tx=Signal()), divisor=12)


def test_cache_root_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLASTICORE_CACHE", str(tmp_path))
    assert board.cache_root() == tmp_path / "board"
    assert board.cache_root(tmp_path / "x") == tmp_path / "x"


# ---- build --------------------------------------------------------------------------------

def test_build_is_cached(echo_build):
    top = EchoTop(echo_build.divisor)
    divisor = echo_build.divisor
    mtime = echo_build.executable.stat().st_mtime_ns
    t0 = time.monotonic()
    again = board.build(top, divisor=divisor, name="echo")
    assert again.cached
    assert again.executable == echo_build.executable
    assert again.executable.stat().st_mtime_ns == mtime
    assert time.monotonic() - t0 < 10     # Verilog conversion only, no compiler


def test_build_failure_reports_the_log(needs_board, monkeypatch, tmp_path):
    monkeypatch.setattr(board, "_VERILATOR_FLAGS", (*board._VERILATOR_FLAGS,
                                                    "--no-such-option"))
    divisor = 12
    top = EchoTop(divisor)
    with pytest.raises(BoardBuildError, match=r"(?s)failed \(exit code \d+\).*no-such-option"):
        board.build(top, divisor=divisor, cache_dir=tmp_path, progress=False)


# ---- the link -----------------------------------------------------------------------------

def test_socket_echo(echo_build):
    data = payload(5000, seed=1)
    with SimulatedBoard(build_result=echo_build) as b:
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", b.url)
        assert echo(b.url, data) == data
    assert b.process.returncode == 0
    assert b.stats["bytes_in"] == b.stats["bytes_out"] == len(data)
    assert b.stats["frame_errors"] == 0
    assert b.stats["cycles"] >= len(data) * 10 * echo_build.divisor


def test_pty_echo(echo_build):
    data = payload(4000, seed=2)
    with SimulatedBoard(build_result=echo_build, pty=True) as b:
        assert b.url.startswith("/dev/")
        assert echo(b.url, data) == data
        assert echo(b.url, data[:100]) == data[:100]      # reopened
    assert b.process.returncode == 0


def test_reconnect(echo_build):
    with SimulatedBoard(build_result=echo_build) as b:
        first = payload(1000, seed=3)
        assert echo(b.url, first) == first
        second = payload(1000, seed=4)
        assert echo(b.url, second) == second
        # A client that leaves with bytes in flight: the next one sees at most the few bytes
        # that were inside the design (receiver, FIFO, transmitter), then its own echo.
        port = serial.serial_for_url(b.url)
        port.write(payload(3000, seed=5))
        port.close()
        third = payload(500, seed=6)
        port = serial.serial_for_url(b.url, timeout=20)
        port.write(third)
        got = port.read(len(third))
        got += port.read(4) if got != third else b""
        port.close()
        assert got.endswith(third) and len(got) - len(third) <= 4
    assert b.stats["clients"] == 4


def test_busy_keeps_time_running(delayed_build):
    """The design works for ``delay_cyc`` cycles with idle lines (and ``busy`` high); the
    harness must not sleep meanwhile."""
    build_result, delay_cyc = delayed_build
    with SimulatedBoard(build_result=build_result) as b:
        port = serial.serial_for_url(b.url, timeout=30)
        t0 = time.monotonic()
        for byte in (b"\x5a", b"\xc3"):
            port.write(byte)
            assert port.read(1) == byte
        elapsed = time.monotonic() - t0
        port.close()
    assert b.stats["cycles"] >= 2 * delay_cyc
    assert elapsed < 20


def test_idle_board_sleeps(echo_build):
    with SimulatedBoard(build_result=echo_build) as b:
        time.sleep(1.0)
    assert b.stats["sleep_seconds"] > 0.5
    assert b.stats["cycles"] < 2_000_000


# ---- stopping -----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_mid_stream(echo_build, sig):
    b = SimulatedBoard(build_result=echo_build).start()
    try:
        port = serial.serial_for_url(b.url, timeout=10)
        port.write(payload(20000, seed=7))
        assert len(port.read(100)) == 100             # the stream is flowing
        b.process.send_signal(sig)
        assert b.process.wait(10) == 0
        # pyserial 3.5 skips closing its socket when shutdown() fails on a connection the
        # peer has reset; close it here so that no ResourceWarning is left behind.
        sock = port._socket
        port.close()
        sock.close()
    finally:
        b.stop()
    assert b.stats["cycles"] > 0 and b.stats["bytes_out"] >= 100


def test_max_cycles(echo_build):
    b = SimulatedBoard(build_result=echo_build, sleep=False, max_cycles=3_000_000).start()
    assert b.wait(30) == 0
    assert b.stats["cycles"] == 3_000_000


def test_crash_is_reported(echo_build):
    with SimulatedBoard(build_result=echo_build) as b:
        b.process.kill()
        b.process.wait()
        with pytest.raises(BoardError, match=r"exited with code -9 while in use"):
            b.check()


# ---- the command --------------------------------------------------------------------------

def test_cli_sim(needs_board):
    """``plasticore sim`` serves the core's link top: identify it and run a few steps."""
    from plasticore.driver import Chip

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "plasticore", "sim", "--neurons", "16",
                             "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", url), url
        with Chip(url, neurons=16) as chip:
            assert chip.identity.kind == 0 and chip.identity.clock_hz > 0
            rec = chip.run(5, [[0, 1, 2]] * 5)
            assert rec.spikes[:, :3].all()
        proc.send_signal(signal.SIGTERM)
        # Stopping waits for the harness's statistics (SIGINT, then SIGTERM after 5 s); on a
        # loaded 2-core machine that has taken over 20 s.
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped after" in err


def test_board_that_goes_away_mid_run(needs_board):
    """A real disconnect: the simulated board's process dies during a run, and the driver
    says so instead of hanging."""
    import threading

    from plasticore.driver import Chip, Disconnected, NoAnswer

    top, divisor = board.board_top(8)
    sim = SimulatedBoard(top, divisor=divisor, name="link-n8").start()
    chip = Chip(sim.url, neurons=8, timeout=2.0, retries=0)
    try:
        chip.open()
        threading.Timer(0.3, sim.process.kill).start()
        with pytest.raises((Disconnected, NoAnswer), match="went away|no answer"):
            chip.run(200_000, None)
    finally:
        chip.close()        # else the socket is closed by the collector: a ResourceWarning
        sim.stop()


# -- the masked memory writes merged in the simulated board's Verilog --------------------------

def _bit_writes(mem, en, data, addr, bits):
    return "".join(f"    if ({en} [{k}])\n      {mem}[{addr}][{k}:{k}] <= {data} [{k}];\n"
                   for k in bits)


def _module(body, extra=""):
    return ("module board(clk);\n  reg [3:0] \\$en$1 ;\n  wire [3:0] \\$d$2 ;\n"
            "  reg [3:0] m [7:0];\n" + extra + "  always @(posedge clk) begin\n" + body
            + "  end\nendmodule\n")


def test_masked_writes_are_merged_into_one_word_write():
    text = _module(_bit_writes("m", "\\$en$1", "\\$d$2", "a[2:0]", range(4)))
    merged = board.merge_masked_writes(text)
    assert "[0:0]" not in merged
    assert ("    if (|\\$en$1 [3:0])\n      m[a[2:0]] <= (m[a[2:0]] & ~\\$en$1 [3:0]) | "
            "(\\$d$2 [3:0] & \\$en$1 [3:0]);\n") in merged
    assert merged.replace(merged[merged.index("    if"):merged.index("  end")], "") == \
        text.replace(text[text.index("    if"):text.index("  end")], "")


@pytest.mark.parametrize("case", ["some bits", "out of order", "two enables", "second port",
                                  "narrow enable"])
def test_masked_writes_that_are_not_whole_words_stay_as_written(case):
    """Only a block covering every bit of one enable, memory, address and data, of a memory
    with no other write port, is merged; anything else is left alone."""
    body, extra = _bit_writes("m", "\\$en$1", "\\$d$2", "a", range(4)), ""
    if case == "some bits":
        body = _bit_writes("m", "\\$en$1", "\\$d$2", "a", range(3))
    elif case == "out of order":
        body = _bit_writes("m", "\\$en$1", "\\$d$2", "a", [0, 2, 1, 3])
    elif case == "two enables":
        body = (_bit_writes("m", "\\$en$1", "\\$d$2", "a", range(2))
                + _bit_writes("m", "\\$en$3", "\\$d$2", "a", range(2, 4)))
    elif case == "second port":
        body += "    m[b] <= 4'h0;\n"
    elif case == "narrow enable":
        extra = "  reg [4:0] \\$en$9 ;\n"
        body = _bit_writes("m", "\\$en$9", "\\$d$2", "a", range(4))
    text = _module(body, extra)
    assert board.merge_masked_writes(text) == text


def test_the_cores_masked_writes_are_merged():
    """The core's memories written field by field (granularity 1) reach Verilator as
    whole-word writes: the transform still matches what Amaranth and Yosys write."""
    top, _ = board.board_top(16, transport="bytes")
    text, _ = board._board_verilog(top, "bytes", True)
    assert re.search(r"\]\[(\d+):\1\] <=", text) is None
    assert len(re.findall(r"^    if \(\|", text, re.M)) >= 4
