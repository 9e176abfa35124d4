"""The program and results file formats: round trips, refusal of foreign or corrupt files,
no partial files."""

import json
import os
import zipfile

import numpy as np
import pytest
from compiler_nets import feedforward

from plasticore import protocol
from plasticore.compiler import CompileError, Program, compile
from plasticore.compiler import program as program_mod
from plasticore.driver.runtime import Results, RunError


@pytest.fixture
def prog():
    net = feedforward(duration=0.1)
    net.projections["in->exc"].record_weights(every=50)
    return compile(net)


def test_round_trip(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)
    back = Program.load(path)
    assert back.config == prog.config
    assert np.array_equal(back.input_raster, prog.input_raster)
    assert np.array_equal(back.input_index, prog.input_index)
    assert back.populations == prog.populations and back.record == prog.record
    assert back.dt == prog.dt and back.learning == prog.learning and back.name == prog.name
    assert back.report.as_dict() == json.loads(json.dumps(prog.report.as_dict()))
    for name, p in prog.projections.items():
        assert np.array_equal(back.projections[name]["mask"], p["mask"])
    a, b = prog.run(), back.run()
    assert np.array_equal(a.spikes["exc"], b.spikes["exc"])
    assert np.array_equal(a.v_raw["exc"], b.v_raw["exc"])


def test_configuration_words_are_the_packed_tables(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)
    with np.load(path) as z:
        words = [int.from_bytes(r.tobytes(), "little") for r in z["neuron_words"]]
        header = json.loads(bytes(z["header"]).decode())
    assert words == prog.config.neurons.pack()
    assert header["format"] == "plasticore-program" and header["version"] == 1
    assert header["contract_hash"] == f"{protocol.contract_hash():08x}"


def _rewrite(path, mutate):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    mutate(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def test_other_contract_is_refused(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)
    _rewrite(path, lambda h, a: h.update(contract_hash="deadbeef"))
    with pytest.raises(CompileError, match="compiled for contract deadbeef.*recompile"):
        Program.load(path)


def test_other_version_and_format_are_refused(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)
    _rewrite(path, lambda h, a: h.update(version=99))
    with pytest.raises(CompileError, match="version 99 program"):
        Program.load(path)
    _rewrite(path, lambda h, a: h.update(format="other"))
    with pytest.raises(CompileError, match="not a plasticore program"):
        Program.load(path)


def test_tampered_arrays_are_refused(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)

    def flip(h, a):
        a["weights"] = a["weights"].copy()
        a["weights"][0, 0] += 1
    _rewrite(path, flip)
    with pytest.raises(CompileError, match="corrupt: its arrays do not match the digest"):
        Program.load(path)


def test_corrupt_and_missing_files(prog, tmp_path):
    path = tmp_path / "p.npz"
    prog.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\0" * 64
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CompileError, match="bad.npz"):
        Program.load(bad)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CompileError, match="not a valid plasticore program file"):
        Program.load(trunc)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(CompileError, match="not a valid plasticore program file"):
        Program.load(text)
    with pytest.raises(CompileError, match="Cannot read program"):
        Program.load(tmp_path / "missing.npz")
    noheader = tmp_path / "nh.npz"
    np.savez(noheader, x=np.zeros(3))
    with pytest.raises(CompileError, match="has no header"):
        Program.load(noheader)


def test_failed_write_leaves_nothing(prog, tmp_path, monkeypatch):
    path = tmp_path / "p.npz"

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(program_mod.np, "savez_compressed", boom)
    with pytest.raises(OSError):
        prog.save(path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(CompileError, match="does not exist"):
        prog.save(tmp_path / "no" / "such" / "p.npz")


def test_virtual_chip_target_records_the_same_as_the_reference(prog):
    ref, virt = prog.run(60), prog.run(60, target="virtual")
    for name in ref.spikes:
        assert np.array_equal(ref.spikes[name], virt.spikes[name])
    for name in ref.v_raw:
        assert np.array_equal(ref.v_raw[name], virt.v_raw[name])
    for name in ref.weights_raw:
        assert np.array_equal(ref.weights_raw[name], virt.weights_raw[name])
        assert np.array_equal(ref.weight_history[name], virt.weight_history[name])
    assert virt.target == "virtual"


def test_results_round_trip_and_targets(prog, tmp_path):
    res = prog.run(120)
    assert res.steps == 120 and res.spikes["exc"].shape == (120, 10)
    assert res.weight_history["in->exc"].shape == (2, 30, 10)
    path = tmp_path / "r.npz"
    res.save(path)
    back = Results.load(path)
    assert np.array_equal(back.spikes["exc"], res.spikes["exc"])
    assert np.array_equal(back.v["exc"], res.v["exc"])
    assert np.array_equal(back.weights["in->exc"], res.weights["in->exc"])
    assert back.summary() == res.summary()
    with pytest.raises(RunError, match="Running on '/dev/plasticore-none' failed: "
                                           "cannot open"):
        prog.run(10, target="/dev/plasticore-none")
    with pytest.raises(RunError, match="Unknown target 'fpga'"):
        prog.run(10, target="fpga")
    with pytest.raises(RunError, match="positive integer"):
        prog.run(0)
    with zipfile.ZipFile(path) as z:
        assert "header.npy" in z.namelist()
