"""The state a RUN streams with its answers (``protocol.RUN_HEADER.record``): its bytes,
their decoding, the sizes that decide whether a step's record fits a packet, and the RUN
header of a request that records nothing staying the bytes it always was."""

import numpy as np
import pytest
from support.stimulus import corner_values

from plasticore import protocol as P
from plasticore.core import NEURON_STATE


def test_a_run_header_without_record_is_the_old_header():
    """first_step (4 bytes LE), then steps (2 bytes LE): what every RUN before the record
    field was; the record bits sit above any steps count a payload can hold (250)."""
    rng = np.random.default_rng(1)
    for first, steps in [(0, 0), (0xFFFFFFFF, 250), (123456, 1), *zip(
            rng.integers(0, 1 << 32, 20), rng.integers(0, 251, 20), strict=True)]:
        head = P.pack(P.RUN_HEADER, {"first_step": int(first), "steps": int(steps)})
        assert head == int(first).to_bytes(4, "little") + int(steps).to_bytes(2, "little")
    head = P.pack(P.RUN_HEADER, {"first_step": 0, "steps": 5, "record": P.record_mask(["v"])})
    assert head[4:] == (5 | 1 << 10).to_bytes(2, "little")
    assert P.unpack(P.RUN_HEADER, head) == {"first_step": 0, "steps": 5, "record": 1}


@pytest.mark.parametrize("names", [["v"], ["i"], ["acc"], ["ref"], ["x"], ["y"],
                                   list(P.RECORD_FIELDS), ["ref", "v", "y"]])
def test_streamed_fields_round_trip_at_their_rails(names):
    n = 37
    rng = np.random.default_rng(len(names))
    mask = P.record_mask(names)
    state = {name: corner_values(NEURON_STATE[name].shape, n, rng, corner=0.5)
             for name in P.RECORD_FIELDS}
    raw = P.encode_state(state, n, mask)
    assert len(raw) == n * P.state_bytes(mask)
    got, offset = P.decode_state(b"xy" + raw + b"z", 2, n, mask)
    assert offset == 2 + len(raw) and list(got) == P.record_names(mask)
    for name in got:
        assert np.array_equal(got[name], state[name]), name
    # neuron-major order: neuron 0's fields first, each little-endian, high bits 0
    first = raw[:P.state_bytes(mask)]
    k = 0
    for name in P.record_names(mask):
        size = P.field_bytes(name)
        width = NEURON_STATE[name].width
        assert int.from_bytes(first[k:k + size], "little") == state[name][0] % (1 << width)
        k += size


def test_decode_state_refuses_truncated_or_padded_fields():
    mask = P.record_mask(["acc"])                       # 18 bits in 3 bytes
    with pytest.raises(ValueError, match="truncated: 5 of 6 bytes"):
        P.decode_state(bytes(5), 0, 2, mask)
    with pytest.raises(ValueError, match="acc has bits set above its 18-bit field"):
        P.decode_state(bytes([0, 0, 0x04, 0, 0, 0]), 0, 2, mask)


def test_record_sizes_and_the_packet_limit():
    v = P.record_mask(["v"])
    assert P.field_bytes("v") == 3 and P.state_bytes(v) == 3
    assert P.state_bytes(P.record_mask(P.RECORD_FIELDS)) == 3 + 3 + 3 + 1 + 2 + 2
    assert P.step_record_bytes(96, v) == 2 + 12 + 96 * 3 == 302
    assert P.record_fits(161, v) and not P.record_fits(162, v)   # 506 and 509 bytes
    assert P.streamable(256, P.RECORD_FIELDS) == ("ref",)
    assert P.streamable(96, ["y", "v"]) == ("v", "y")
    assert P.run_answer_split(5, 96, v) == [1, 1, 1, 1, 1]
    assert P.run_answer_split(40, 8, v) == [18, 18, 4]          # 27 bytes a step
    assert P.run_answer_split(300, 16) == [126, 126, 48]        # unchanged without record
    with pytest.raises(ValueError, match=r"record of 802 bytes \(N = 256, recording v\) "
                                         r"does not fit in a packet of 506 bytes"):
        P.run_answer_split(1, 256, v)
    with pytest.raises(ValueError, match="cannot record 'volts': the neuron state has v, i"):
        P.record_mask(["volts"])
