"""plasticore.protocol.pack/unpack: the shift-based path of plain layouts gives the bytes
(and the errors) of Amaranth's Layout.const, for random and corner values."""

import numpy as np
import pytest

from plasticore import protocol as P

LAYOUTS = [P.REQUEST_HEADER, P.RESPONSE_HEADER, P.ACCESS, P.RUN_HEADER, P.CONTROL,
           P.IDENTITY, P.STATUS_WORD]


def _const(layout, fields):
    try:
        return int(layout.const(fields).as_bits()).to_bytes((layout.size + 7) // 8, "little")
    except Exception as e:                      # noqa: BLE001  (the same exception type)
        return type(e)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: str(list(dict(lay))[:2]))
def test_pack_equals_layout_const(layout):
    rng = np.random.default_rng(0)
    for _ in range(500):
        fields = {}
        for name, field in layout:
            if rng.random() < 0.8:          # missing fields are 0, enums included
                w = field.width
                fields[name] = int(rng.choice([0, 1, 2, 6, 9, (1 << w) - 1, 1 << w, -1,
                                               int(rng.integers(0, 1 << (w + 2)))]))
        try:
            got = P.pack(layout, fields)
        except Exception as e:                  # noqa: BLE001
            got = type(e)
        assert got == _const(layout, fields), fields
        if isinstance(got, bytes):
            back = P.unpack(layout, got)
            for name, field in layout:
                value = back[name]
                assert int(getattr(value, "value", value)) == \
                    fields.get(name, 0) & ((1 << field.width) - 1)
