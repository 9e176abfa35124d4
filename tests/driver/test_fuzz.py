"""Fuzzing the link: random bytes, bit flips, truncations, lost and extra bytes, duplicated
and oversized frames.  After each case the link must answer (no hang); every so often all
memories are read back and compared with a shadow that only valid, acknowledged writes
changed (no silent corruption)."""

import time

import numpy as np
import pytest

from plasticore import protocol as P
from plasticore.core import NEURON_PARAMS, Table

N = 8
MUTATIONS = ["valid", "garbage", "flip", "flips", "truncate", "lose", "extra", "duplicate",
             "oversize", "no_delimiter", "bad_header"]


def cases_for(target):
    return 10_000 if target in ("virtual", "ref") else 300


class Shadow:
    """What the memories must hold: changed only by writes the device acknowledged."""

    def __init__(self, chip):
        self.weights = chip.read_weights()
        self.params = chip.read_neuron_params()

    def apply(self, region, start, data):
        if region == P.WireRegion.WEIGHTS:
            flat = self.weights.reshape(-1)
            flat[start:start + len(data)] = np.frombuffer(data, np.int8)
        else:
            new = Table.from_bytes(NEURON_PARAMS, data)
            for name in new.names:
                self.params[name][start:start + new.n] = new[name]

    def check(self, chip, case):
        assert np.array_equal(chip.read_weights(), self.weights), f"weights after case {case}"
        assert chip.read_neuron_params() == self.params, f"neuron params after case {case}"


def valid_write(rng, n):
    if rng.random() < 0.7:
        start = int(rng.integers(0, n * n - 4))
        data = rng.integers(-128, 128, int(rng.integers(1, 5))).astype(np.int8).tobytes()
        return P.WireRegion.WEIGHTS, start, data
    k = int(rng.integers(0, n))
    t = Table(NEURON_PARAMS, 1, threshold=int(rng.integers(-1000, 1000)),
              alpha_v=int(rng.integers(0, 32769)), refractory=int(rng.integers(0, 256)))
    return P.WireRegion.NEURON_PARAMS, k, t.to_bytes()


def mutate(kind, line: bytes, rng) -> bytes:
    b = bytearray(line)
    body = len(b) - 1                       # keep the delimiter unless the mutation drops it
    if kind == "garbage":
        return rng.integers(0, 256, int(rng.integers(1, 300))).astype(np.uint8).tobytes()
    if kind in ("flip", "flips"):
        for _ in range(1 if kind == "flip" else int(rng.integers(2, 6))):
            pos = int(rng.integers(0, body))
            b[pos] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if kind == "truncate":
        return bytes(b[:int(rng.integers(1, body))]) + b"\0"
    if kind == "lose":
        del b[int(rng.integers(0, body))]
        return bytes(b)
    if kind == "extra":
        b.insert(int(rng.integers(0, body)), int(rng.integers(0, 256)))
        return bytes(b)
    if kind == "no_delimiter":
        return bytes(b[:-1])                # merges with whatever follows
    return bytes(b)


def test_fuzz_link(connect, target, make_packet):
    frame = make_packet
    chip = connect(N)
    rng = np.random.default_rng(2024)
    shadow = Shadow(chip)
    counts = dict.fromkeys(MUTATIONS, 0)
    answered_ok_writes = 0
    cases = cases_for(target)
    t0 = time.monotonic()
    for case in range(cases):
        kind = MUTATIONS[case % len(MUTATIONS)]
        counts[kind] += 1
        region, start, data = valid_write(rng, N)
        chip._seq = (chip._seq + 1) & 0xFF
        seq = chip._seq
        access = P.pack(P.ACCESS, {"region": region, "count": len(data) // P.wire_bytes(region),
                                   "start": start})
        packet = frame(P.Opcode.WRITE.value, seq, access + data)
        if kind == "oversize":
            packet = frame(P.Opcode.WRITE.value, seq, access + bytes(P.MAX_PAYLOAD))
        elif kind == "bad_header":
            packet = frame(P.Opcode.WRITE.value, seq, access + data, length=len(data))
        line = P.encode_frame(packet)
        line = line + line if kind == "duplicate" else mutate(kind, line, rng)
        chip._write(line)
        # Whatever happened, the next frame after a delimiter must be handled correctly.
        chip._write(b"\0")
        deadline = time.monotonic() + chip.timeout
        acked = False
        st = None
        chip._seq = (chip._seq + 1) & 0xFF
        chip._write(P.encode_frame(frame(P.Opcode.STATUS.value, chip._seq, b"")))
        while st is None:
            resp = chip._next_response(deadline)
            assert resp is not None, f"case {case} ({kind}): the link hangs"
            status, rseq, body = resp
            if rseq == seq and status == P.Status.OK:
                acked = True
            elif rseq == chip._seq:
                assert status == P.Status.OK and len(body) == P.STATUS_BYTES, (case, kind)
                st = body
        if acked:
            shadow.apply(region, start, data)
            answered_ok_writes += 1
        if kind in ("valid", "duplicate"):
            assert acked, f"case {case}: a valid write was not acknowledged"
        if case % 500 == 499 or case == cases - 1:
            shadow.check(chip, case)
    elapsed = time.monotonic() - t0
    print(f"\n{cases} fuzz cases in {elapsed:.1f} s, {answered_ok_writes} acknowledged writes, "
          f"per kind {counts}, 0 hangs, 0 silent corruptions")
    assert answered_ok_writes >= counts["valid"] + counts["duplicate"]
    status = chip.status()
    assert status["crc_errors"] > 0 and status["rejected"] > 0


@pytest.mark.parametrize("seed", range(3))
def test_every_frame_is_answered(connect, seed, make_packet):
    """Well-delimited frames, valid or not, each get exactly one final answer (the host
    keeps to the flow control: at most ``rx_buffers`` frames outstanding)."""
    frame = make_packet
    chip = connect(N)
    rng = np.random.default_rng(seed)
    plan = []
    for k in range(200):
        seq = (k % 250) + 1
        kind = int(rng.integers(0, 4))
        if kind == 0:
            packet = frame(P.Opcode.STATUS.value, seq, b"")
        elif kind == 1:
            packet = frame(int(rng.integers(0x40, 0x100)), seq, b"")      # unknown opcode
        elif kind == 2:
            packet = frame(P.Opcode.READ.value, seq, bytes([0, 1, 0, 200, 0, 0, 0]))
        else:
            packet = frame(P.Opcode.IDENTIFY.value, seq, b"", length=3)   # bad length
        enc = bytearray(P.encode_frame(packet))
        if rng.random() < 0.3:
            enc[int(rng.integers(0, len(enc) - 1))] ^= 0x10
            if 0 in enc[:-1]:
                continue
            kind = -1                                                     # corrupted
        plan.append((seq, kind, bytes(enc)))
    expect = {0: P.Status.OK, 1: P.Status.UNKNOWN_OPCODE, 2: P.Status.BAD_ADDRESS,
              3: P.Status.BAD_LENGTH, -1: P.Status.BAD_CRC}
    window = chip.identity.rx_buffers
    for k in range(0, len(plan), window):
        group = plan[k:k + window]
        chip._write(b"".join(enc for _, _, enc in group))
        deadline = time.monotonic() + chip.timeout
        for seq, kind, _ in group:
            resp = chip._next_response(deadline)
            assert resp is not None, f"frame {k} (kind {kind}) was not answered"
            status, rseq, _ = resp
            assert status == expect[kind]
            if kind != -1:
                assert rseq == seq
