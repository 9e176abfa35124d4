"""The driver's own tests: identical on every target (``--target``)."""

import numpy as np
import pytest
import serial
from support.stimulus import corner_values, random_config, random_forced

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, NEURON_STATE, Table
from plasticore.driver import (
    Chip,
    Disconnected,
    LinkError,
    PortNotFound,
    RequestRejected,
    WrongDevice,
)
from plasticore.sim import Reference


def random_table(layout, n, rng):
    t = Table(layout, n)
    for name, field in layout:
        shape = field.shape
        fmt = shape if isinstance(shape, F.Format) else F.Format(name, 1, False)
        t[name] = corner_values(fmt, n, rng, corner=0.3)
    return t


def test_identify(connect):
    chip = connect(16)
    ident = chip.identify()
    assert ident.neurons == 16 and ident.protocol == P.PROTOCOL_VERSION
    assert ident.contract == P.contract_hash()
    assert ident.max_payload == P.MAX_PAYLOAD and ident.rx_buffers >= 1


@pytest.mark.parametrize("n", [8, 9, 32])
def test_every_region_round_trips(connect, n):
    chip = connect(n)
    rng = np.random.default_rng(n)
    w = corner_values(F.WEIGHT, (n, n), rng)
    plastic = rng.random((n, n)) < 0.5
    params = random_table(NEURON_PARAMS, n, rng)
    learning = random_table(LEARNING_PARAMS, n, rng)
    state = random_table(NEURON_STATE, n, rng)
    chip.write_weights(w)
    chip.write_plastic(plastic)
    chip.write_neuron_params(params)
    chip.write_learning_params(learning)
    chip.write_state(state)
    assert np.array_equal(chip.read_weights(), w)
    assert np.array_equal(chip.read_plastic(), plastic)
    assert chip.read_neuron_params() == params
    assert chip.read_learning_params() == learning
    assert chip.read_state() == state
    # partial reads and writes at arbitrary offsets
    chip.write_region(P.WireRegion.WEIGHTS, 3, bytes([0x80, 0x7F, 0x00]))
    assert chip.read_region(P.WireRegion.WEIGHTS, 2, 5) == \
        bytes(np.int8(w.reshape(-1)[2:3]).tobytes()) + bytes([0x80, 0x7F, 0x00]) + \
        np.int8(w.reshape(-1)[6:7]).tobytes()


def test_large_upload_is_split_and_read_back(connect):
    chip = connect(32)                       # 1,024 weights: three WRITE frames
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (32, 32))
    chip.write_weights(w)
    assert np.array_equal(chip.read_weights(), w)
    assert chip.stats["retries"] == 0


@pytest.mark.parametrize("seed", range(3))
def test_learning_run_equals_the_reference_every_step(connect, seed):
    n, steps = 16, 60
    rng = np.random.default_rng(100 + seed)
    cfg = random_config(n, rng)
    forced = random_forced(steps, n, 0.15, rng)
    chip = connect(n)
    chip.load(cfg, verify=True)
    chip.learning = True
    ref = Reference(cfg, learning=True)
    for k in range(steps):
        rec = chip.run(1, forced[k:k + 1])
        ref.step(forced[k])
        assert np.array_equal(rec.spikes[0], ref.spikes), f"spikes differ at step {k}"
        snap = chip.snapshot()
        assert snap == ref.snapshot(), f"step {k}: {snap.diff(ref.snapshot())}"


def test_long_streamed_run_equals_the_reference(connect):
    n, steps = 32, 700
    rng = np.random.default_rng(7)
    cfg = random_config(n, rng)
    forced = [np.flatnonzero(rng.random(n) < p) for p in rng.choice([0, 0.05, 1.0], steps)]
    chip = connect(n)
    chip.load(cfg)
    chip.learning = True
    seen = []
    rec = chip.run(steps, forced, progress=lambda done, total: seen.append(done))
    ref = Reference(cfg, learning=True)
    expect = ref.run(steps, forced)
    assert np.array_equal(rec.spikes, expect.spikes)
    assert chip.snapshot() == ref.snapshot()
    assert seen[-1] == steps and seen == sorted(seen)


def test_learning_toggle_and_reset(connect):
    n = 16
    cfg = random_config(n, np.random.default_rng(3))
    chip = connect(n)
    chip.load(cfg)
    assert chip.learning is False
    chip.learning = True
    assert chip.learning is True
    chip.run(5, [[0, 1]] * 5)
    assert chip.status()["step"] == 5
    chip.reset()
    st = chip.status()
    assert st["step"] == 0 and chip.read_state() == Table(NEURON_STATE, n)
    assert not chip.read_spikes().any()


def test_run_each_equals_reset_and_run_in_turn(connect):
    """Chip.run_each (one pipelined stream: a RESET and the RUNs of each input) answers the
    spikes of a reset and a run per input, with learning on, and leaves the same weights;
    inputs of different lengths, one longer than a RUN frame's ramp, one empty of spikes."""
    n = 16
    rng = np.random.default_rng(21)
    cfg = random_config(n, rng)
    inputs = [random_forced(steps, n, 0.3, rng) for steps in (20, 3, 90, 1)]
    inputs[1][:] = False
    chip = connect(n)
    chip.load(cfg)
    chip.learning = True
    got = chip.run_each(inputs)
    ref = Reference(cfg, learning=True)
    for forced, spikes in zip(inputs, got, strict=True):
        ref.reset()
        assert np.array_equal(spikes, ref.run(len(forced), forced).spikes)
    assert np.array_equal(chip.read_weights(), ref.weights)
    assert chip.status()["step"] == 1
    assert chip.run(2).spikes.shape == (2, n)         # the step counter was kept right
    assert chip.run_each([]) == []


def test_driver_refuses_bad_arguments_before_sending(connect):
    chip = connect(8)
    with pytest.raises(ValueError, match="outside region WEIGHTS"):
        chip.write_region(P.WireRegion.WEIGHTS, 60, bytes(5))
    with pytest.raises(F.RangeError, match="weights = 300"):
        chip.write_weights(np.full((8, 8), 300))
    with pytest.raises(ValueError, match=r"shape \(8, 8\)"):
        chip.write_plastic(np.zeros((8, 9)))
    with pytest.raises(ValueError, match="inputs given for 2 steps, but running 3"):
        chip.run(3, [[1], [2]])
    with pytest.raises(ValueError, match=r"neuron indices must be in \[0, 7\]"):
        chip.run(1, [[8]])


def test_device_rejects_bad_requests_and_changes_nothing(connect, raw):
    chip = connect(8)
    before = chip.read_config()
    access = P.pack(P.ACCESS, {"region": P.WireRegion.WEIGHTS, "count": 2, "start": 63})
    assert raw(chip, P.Opcode.WRITE, access + b"\x01\x02")[0] == P.Status.BAD_ADDRESS
    access = P.pack(P.ACCESS, {"region": P.WireRegion.WEIGHTS, "count": 3, "start": 0})
    assert raw(chip, P.Opcode.WRITE, access + b"\x01\x02")[0] == P.Status.BAD_LENGTH
    assert raw(chip, P.Opcode.READ, b"\x09" + bytes(6))[0] == P.Status.BAD_ADDRESS
    assert raw(chip, 0x77)[0] == P.Status.UNKNOWN_OPCODE
    assert raw(chip, P.Opcode.STATUS, b"", length=5)[0] == P.Status.BAD_LENGTH
    # a decay factor above 1.0: refused whole, the good word before it not written
    good = Table(NEURON_PARAMS, 1, threshold=5).pack()[0]
    bad = Table(NEURON_PARAMS, 1).pack()[0] | (40000 << 72)      # alpha_v field
    size = P.wire_bytes(P.WireRegion.NEURON_PARAMS)
    access = P.pack(P.ACCESS, {"region": P.WireRegion.NEURON_PARAMS, "count": 2, "start": 0})
    status, _ = raw(chip, P.Opcode.WRITE, access + good.to_bytes(size, "little")
                    + bad.to_bytes(size, "little"))
    assert status == P.Status.BAD_VALUE
    head = P.pack(P.RUN_HEADER, {"first_step": 0, "steps": 1})
    assert raw(chip, P.Opcode.RUN, head + b"\x01\x00\x09\x00")[0] == P.Status.BAD_VALUE
    head = P.pack(P.RUN_HEADER, {"first_step": 99, "steps": 1})
    assert raw(chip, P.Opcode.RUN, head + b"\x00\x00")[0] == P.Status.OUT_OF_SEQUENCE
    assert chip.read_config() == before
    assert chip.status()["step"] == 0
    with pytest.raises(RequestRejected, match="BAD_ADDRESS"):
        chip.request(P.Opcode.READ, b"\x09" + bytes(6))


def test_garbage_on_the_line_then_everything_works(connect):
    chip = connect(8)
    rng = np.random.default_rng(5)
    chip._write(rng.integers(1, 256, 3000).astype(np.uint8).tobytes())
    chip._write(b"\x00")
    w = rng.integers(-128, 128, (8, 8))
    chip.write_weights(w)
    assert np.array_equal(chip.read_weights(), w)


def test_no_such_port():
    with pytest.raises(PortNotFound, match="cannot open '/dev/plasticore-nonexistent'"):
        Chip("/dev/plasticore-nonexistent").open()
    with pytest.raises(PortNotFound) as e:                 # the path once, and what to try
        Chip("/dev/plasticore-nonexistent").open()
    assert str(e.value).count("plasticore-nonexistent") == 1 and "plugged in" in str(e.value)
    with pytest.raises(PortNotFound, match="connection refused. Is a simulated board"):
        Chip("socket://127.0.0.1:1").open()
    with pytest.raises(PortNotFound, match="the options are neurons=N and options="):
        Chip("virtual://?size=3").open()


def test_wrong_device_is_refused(connect, target):
    chip = connect(8)
    url = chip.url
    chip.close()
    with pytest.raises(WrongDevice, match="has 8 neurons, expected 16"):
        Chip(url, neurons=16).open()
    with pytest.raises(WrongDevice, match="runs gateware build"):
        Chip(url, build=0x1234567).open()


def test_disconnect_mid_run_is_reported(connect, monkeypatch):
    chip = connect(8)
    chip.load(random_config(8, np.random.default_rng(2)))
    calls = {"n": 0}
    real_read = chip.port.read

    def failing_read(size=1):
        calls["n"] += 1
        if calls["n"] > 3:
            raise serial.SerialException("device reports readiness to read but returned no "
                                         "data (device disconnected?)")
        return real_read(size)

    monkeypatch.setattr(chip.port, "read", failing_read)
    with pytest.raises(Disconnected, match="went away while receiving"):
        chip.run(2000, [[0]] * 2000)


def test_a_run_records_the_neuron_state_of_every_step(connect):
    """``Chip.run(record=...)`` streams the state after every step (pipelined READs) and
    equals the reference's record, step for step; an unknown field is refused by name."""
    n, steps = 16, 24
    cfg = random_config(n, np.random.default_rng(11))
    chip = connect(n)
    chip.load(cfg)
    chip.learning = True
    forced = random_forced(steps, n, 0.2, np.random.default_rng(12))
    forced[3] = True
    rec = chip.run(steps, forced, record=("v", "x", "y"))
    ref = Reference(cfg, learning=True)
    expect = ref.run(steps, forced=forced, record=("spikes", "v", "x", "y"))
    assert np.array_equal(rec.spikes, expect.spikes)
    for name in ("v", "x", "y"):
        assert np.array_equal(rec.state[name], expect.state[name]), name
    assert np.array_equal(chip.read_weights(), ref.weights)
    assert chip.status()["step"] == steps
    with pytest.raises(ValueError, match="cannot record 'volts': the neuron state has v, i"):
        chip.run(1, record=("volts",))


@pytest.mark.parametrize("n", [8, 32])
def test_recorded_v_streams_with_the_run(connect, n):
    """``record=("v",)`` on a device that streams v: the RUNs carry v with their answers (no
    READ goes out), equal to the reference every step, and cost fewer line bytes than the
    READs they replace (``stream_state = False``), which give the same values.  Corners: v
    written at its rails, steps forcing every neuron and none, answers over several packets
    (N = 8: 18 steps a packet; N = 32: 4)."""
    rng = np.random.default_rng(40 + n)
    cfg = random_config(n, rng, corner=0.4)
    chip = connect(n)
    chip.load(cfg)
    chip.learning = True
    assert chip.streams(("v",)) and not chip.streams(())
    state = Table(NEURON_STATE, n)
    state["v"] = np.where(np.arange(n) % 2, F.V.max, F.V.min)
    chip.write_state(state)
    ref = Reference(cfg, learning=True)
    ref.state = state
    steps = 40
    forced = random_forced(steps, n, 0.2, rng)
    forced[1], forced[2] = True, False
    got = {}
    for stream in (True, False):
        chip.stream_state = stream
        chip.traffic = []
        rec = chip.run(steps, forced, record=("v",))
        expect = ref.run(steps, forced=forced, record=("spikes", "v"))
        assert np.array_equal(rec.spikes, expect.spikes)
        assert np.array_equal(rec.state["v"], expect.state["v"])
        opcodes = {e.opcode for e in chip.traffic}
        assert (P.Opcode.READ in opcodes) != stream
        got[stream] = sum(e.request_bytes + e.answer_bytes for e in chip.traffic)
        if stream:
            assert np.isin(rec.state["v"], [F.V.min, F.V.max]).any()   # the rails streamed
            runs = [e for e in chip.traffic if e.opcode == P.Opcode.RUN]
            assert all(e.record == P.record_mask(["v"]) for e in runs)
    assert got[True] < got[False] / 2
    assert np.array_equal(chip.read_weights(), ref.weights)


def test_a_run_finds_a_step_counter_changed_behind_its_back(connect, raw):
    """The session remembers the step counter to save a STATUS before each run; a RUN sent
    past it (here by hand) makes the next run refused once, read the counter and go on."""
    n = 8
    cfg = random_config(n, np.random.default_rng(6))
    chip = connect(n)
    chip.load(cfg)
    forced = random_forced(12, n, 0.3, np.random.default_rng(7))
    ref = Reference(cfg)
    assert np.array_equal(chip.run(4, forced[:4]).spikes, ref.run(4, forced[:4]).spikes)
    head = P.pack(P.RUN_HEADER, {"first_step": 4, "steps": 1})
    assert raw(chip, P.Opcode.RUN, head + P.encode_record((), n))[0] == P.Status.OK
    ref.run(1)
    assert np.array_equal(chip.run(8, forced[4:]).spikes, ref.run(8, forced[4:]).spikes)
    assert chip.status()["step"] == 13
    chip.reset()
    ref.reset()
    assert np.array_equal(chip.run(3, forced[:3]).spikes, ref.run(3, forced[:3]).spikes)
    assert chip.status()["step"] == 3
    # a RESET pipelined with the RUN (run(reset=True)) is a reset followed by the run
    ref.reset()
    rec = chip.run(5, forced[3:8], reset=True, record=("v",))
    expect = ref.run(5, forced=forced[3:8], record=("spikes", "v"))
    assert np.array_equal(rec.spikes, expect.spikes)
    assert np.array_equal(rec.state["v"], expect.state["v"])
    assert chip.status()["step"] == 5


def drop_frame(monkeypatch, chip, which):
    """Make the port lose the ``which``-th frame written from now on."""
    real_write = chip.port.write
    state = {"frames": 0}

    def lossy_write(data):
        state["frames"] += 1
        return len(data) if state["frames"] == which else real_write(data)

    monkeypatch.setattr(chip.port, "write", lossy_write)
    return real_write


@pytest.mark.parametrize("retries", [0, 3])
def test_a_lost_run_frame_never_runs_out_of_order(connect, monkeypatch, retries):
    n, steps = 8, 600
    cfg = random_config(n, np.random.default_rng(4))
    chip = connect(n)
    chip.load(cfg)
    # The loss shows as the next RUN's OUT_OF_SEQUENCE, not as a timeout: the timeout only
    # has to outlast a RUN of the simulated board on a loaded machine (0.5 s did not).
    chip.timeout, chip.retries = 10.0, retries
    first = chip.status()["step"]
    # The session knows the step counter from this STATUS, so the run's first frame is its
    # first RUN: lose it.
    real_write = drop_frame(monkeypatch, chip, 1)
    inputs = [[1]] * steps
    if retries == 0:
        with pytest.raises(LinkError, match="a RUN request to .* was lost on the line"):
            chip.run(steps, inputs)
        monkeypatch.setattr(chip.port, "write", real_write)
        assert chip.status()["step"] == first    # the RUN queued behind it did not run
    else:
        rec = chip.run(steps, inputs)
        ref = Reference(cfg)
        assert np.array_equal(rec.spikes, ref.run(steps, inputs).spikes)
        assert chip.stats["retries"] >= 1


def test_interrupted_run_is_aborted_and_the_session_goes_on(connect, target):
    n, steps = 16, 3000
    cfg = random_config(n, np.random.default_rng(8))
    chip = connect(n)
    chip.load(cfg)
    chip.learning = True

    def interrupt(done, total):
        if done >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        chip.run(steps, [[1, 2]] * steps, progress=interrupt)
    done = chip.status()["step"]
    assert 100 <= done <= steps
    if target not in ("virtual", "ref"):
        # A chip that takes time per step is stopped by the ABORT (the virtual chip has
        # run every RUN frame it was sent by the time the ABORT arrives).
        assert done < steps, "the ABORT did not stop the RUN"
    # The core stopped at a step boundary; from the state it holds, it goes on exactly like
    # the reference.
    snap = chip.snapshot()
    ref = Reference(chip.read_config(), learning=True)
    ref.state, ref.spikes, ref.t = snap.state, snap.spikes, snap.t
    forced = [[3]] * 20
    assert np.array_equal(chip.run(20, forced).spikes, ref.run(20, forced).spikes)
    assert chip.snapshot() == ref.snapshot()

