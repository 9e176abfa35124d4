"""The core's memories: word layouts, where a synapse lives, and the memories themselves.

:class:`CoreMemories` builds the memories *in the core's own module* (it is not a component):
the cocotb peeks (`tests/support/coredriver.py`) find them by name at the top of the
core's Verilog (``syn0``-``syn3``, ``neu``, ``pend``, ``xtr``), and the board builds' Yosys
commands select them as ``*.core/t:$memrd_v2``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from plasticore import fixed as F
from plasticore.core import SYNAPSE, TRIPLET_STATE, CoreParams, Rounding, Target

from .neuron import EARLY, LATE, MID
from .synapse import DEP, DEP_PROD

__all__ = ["NEURON_WORD", "PAR_MID", "PAR_LATE", "BOUNDS", "Geometry", "CoreMemories",
           "par_early_layout", "par_mid_layout", "par_late_layout", "dep_layout",
           "slist_layout", "RULE_WORD", "unrounded_dep", "bank_layout",
           "field_mask", "gather", "half", "half_en"]

#: The neuron memory (``neu``), one word per neuron: the NEURON_STATE fields only the neuron
#: pass touches, the spike of the last step, the forced bit and the input weight shift
#: (a parameter the neuron's first stage needs; 78 bits, 5 block RAMs of 16 bits on iCE40).
NEURON_WORD = data.StructLayout({"v": F.V, "i": F.I, "ref": F.REFRACTORY, "y": F.TRACE,
                                 "spk": 1, "frc": 1, "w_shift": F.W_SHIFT})

#: The parameter memories, read by the neuron pass when a neuron reaches the stage that uses
#: them (see NeuronUpdate): ``par_a`` (:data:`.neuron.EARLY`, decay factors, 64 bits) with the
#: state, ``par_m`` (:data:`PAR_MID`, 62 bits) 1 cycle and ``par_l`` (:data:`PAR_LATE`,
#: 78 bits) 3 cycles later; the column pass reads ``a_plus`` from ``par_l``.  On an iCE40
#: that is 4 + 4 + 5 block RAMs, one fewer than NEURON_PARAMS and LEARNING_PARAMS apart.
PAR_MID = MID
PAR_LATE = data.StructLayout({**{name: field.shape for name, field in LATE},
                              "a_plus": F.AMPLITUDE})



def _extended(layout, extra: dict):
    if not extra:
        return layout
    return data.StructLayout({**{name: f.shape for name, f in layout}, **extra})


def par_early_layout(params: CoreParams) -> data.StructLayout:
    """``par_a`` of a core: :data:`.neuron.EARLY`, and with the triplet option the slow
    traces' decay factors (the first stage of :class:`.triplet.SlowTraceUpdate`)."""
    return _extended(EARLY, {"alpha_x2": F.DECAY, "alpha_y2": F.DECAY} if params.triplet
                     else {})


def par_mid_layout(params: CoreParams) -> data.StructLayout:
    """``par_m`` of a core: :data:`PAR_MID`, and with the triplet option the triplet
    amplitudes (their products with ``y'`` and ``y2'`` are formed two cycles into the
    neuron pass, as the depression's ``a_minus y'``)."""
    return _extended(PAR_MID, {"a3_minus": F.AMPLITUDE, "a3_plus": F.AMPLITUDE}
                     if params.triplet else {})


def par_late_layout(params: CoreParams) -> data.StructLayout:
    """``par_l`` of a core: :data:`PAR_LATE`, and with the stochastic option the rounding
    mode of the neuron's rule (read by the neuron pass for the depression word, by the
    column pass for the column), with the eligibility option the modulator a spike of the
    neuron adds to the step's (read at its write-back in the neuron pass), with the triplet
    option the slow traces' increments."""
    extra: dict = {"rounding": Rounding} if params.stochastic else {}
    if params.eligibility:
        extra["mod_weight"] = F.MODULATOR
    if params.triplet:
        extra.update({"x2_inc": F.TRACE_INC, "y2_inc": F.TRACE_INC})
    return _extended(PAR_LATE, extra)


def unrounded_dep(params: CoreParams) -> bool:
    """The lanes round the depression themselves (options stochastic, eligibility or
    triplet: per synapse random bits, a shift that depends on the post neuron's target, or
    the triplet term of the pre neuron)."""
    return params.stochastic or params.eligibility or params.triplet


def dep_layout(params: CoreParams):
    """A neuron's word in ``dep``: the rounded, saturated depression (:data:`.synapse.DEP`),
    or with the stochastic, eligibility or triplet option the unrounded product and the
    neuron's rounding mode; with the triplet option also ``prod3 = a3_minus y'`` (rows:
    ``Q = prod 2^12 + prod3 x2'_j``) and ``pot = a3_plus y2'`` (its column's amplitude
    ``a_plus 2^12 + pot``)."""
    if not unrounded_dep(params):
        return DEP
    fields = {"prod": DEP_PROD, "stoch": 1}
    if params.triplet:
        fields.update({"prod3": DEP_PROD, "pot": DEP_PROD})
    return data.StructLayout(fields)


def slist_layout(params: CoreParams):
    """A spike-list entry: the neuron's index, and with the triplet option its decayed
    slow pre trace ``x2'`` (constant along its row in the row pass)."""
    if not params.triplet:
        return unsigned(params.index_width)
    return data.StructLayout({"index": params.index_width, "x2": F.TRACE})


def bank_layout(params: CoreParams) -> data.StructLayout:
    """What a synapse bank stores: the whole SYNAPSE word with the eligibility option,
    else only weight and plasticity bit (9 bits: an ECP5 block RAM holds 2,048 of them, not
    1,024 of 16 bits).  Read data is zero-extended to SYNAPSE (eligibility 0)."""
    if params.eligibility:
        return SYNAPSE
    return data.StructLayout({"weight": SYNAPSE["weight"].shape, "plastic": 1})


#: Option eligibility: the target and the eligibility decay of the synapses into a neuron,
#: read per lane by the row and modulation passes and per column by the column pass.
RULE_WORD = data.StructLayout({"target": Target, "alpha_e": F.DECAY})


#: The weight bounds of the synapses into a neuron: read by both lanes of the row pass.
BOUNDS = data.StructLayout({"w_min": F.WEIGHT, "w_max": F.WEIGHT})


def field_mask(layout, names):
    """Bit-granular write enables of the fields of ``layout`` that are in ``names``."""
    mask = 0
    for name, field in layout:
        if name in names:
            mask |= ((1 << field.width) - 1) << field.offset
    return mask


def gather(m, layout, views, name=None):
    """A Signal of ``layout`` whose fields come, by name, from the first of ``views``
    (``data.View`` s) that has them."""
    out = Signal(layout, name=name)
    for field, _ in layout:
        view = next(v for v in views if field in v.shape().members)
        m.d.comb += out[field].eq(view[field])
    return out


def half(value, width, which):
    """Neuron ``2q + which`` of a pair word."""
    return Mux(which, value[width:2 * width], value[:width])


def half_en(port, which):
    """Write enables of one neuron of a pair word (granularity = one neuron)."""
    return port.en.eq(Cat(~which, which))


class Geometry:
    """Where the core keeps a synapse: the synapse matrix lives in four single-port banks.

    Synapse ``(j, i)`` (row j = pre, column i = post) is in bank
    ``2 * (((i >> 1) + (j >> 1)) & 1) + ((i + j) & 1)`` at address ``j * Q + (i >> 2)``,
    with ``Q = ceil(N / 4)``.  The two lanes visit a pair of synapses per cycle, ``(j, 2q)``
    and ``(j, 2q + 1)`` in a row, ``(2q, i)`` and ``(2q + 1, i)`` in a column: each pair
    lies in two different banks of the same half ``{0, 1}`` or ``{2, 3}``, and consecutive
    pairs alternate between the halves.  So every bank is read at most every other cycle, and
    the write-back of a read (2 cycles later: odd) never meets a read of the same bank: the
    banks can be single-port RAMs (the iCE40UP's 4 SPRAMs hold N = 256).

    The per-neuron memories the lanes read (``acc``, ``dep``, bounds, ``x``) hold neurons
    ``2q`` and ``2q + 1`` in one word ("pairs") at address ``q``.  Sizes are padded to
    ``NP = 4 * Q`` neurons; lanes of neurons ``>= N`` read but never write.
    """

    def __init__(self, n: int):
        self.n = n
        self.quads = (n + 3) // 4                      # Q: addresses per row in a bank
        self.padded = 4 * self.quads                   # NP
        self.pairs = self.padded // 2                  # P: lane pairs per row or column
        self.bank_depth = self.padded * self.quads

    @property
    def pair_shape(self):
        """Shape of a pair address (``q``)."""
        return unsigned(max(1, (self.pairs - 1).bit_length()))

    @property
    def bank_addr_shape(self):
        """Shape of an address in a synapse bank."""
        return unsigned(max(1, (self.bank_depth - 1).bit_length()))

    @staticmethod
    def bank(j, i):
        return 2 * (((i >> 1) + (j >> 1)) & 1) + ((i + j) & 1)

    def address(self, j, i):
        return j * self.quads + (i >> 2)


class CoreMemories:
    """The core's memories, one read port and one write port each (simple dual-port RAM),
    added to the core's module ``m`` under the names below.

    ============  ======================================  ============  ==================
    name          word                                    depth         write granularity
    ============  ======================================  ============  ==================
    ``syn0-3``    SYNAPSE (:class:`Geometry`)             ``NP * Q``    word
    ``par_a``     :data:`.neuron.EARLY`                   N             bit
    ``par_m``     :data:`PAR_MID`                         N             bit
    ``par_l``     :data:`PAR_LATE`                        N             bit
    ``neu``       :data:`NEURON_WORD`                     N             bit
    ``pend``      ``acc`` of a neuron pair                P             neuron
    ``dep``       depression of a neuron pair (DEP)       P             neuron
    ``bounds``    :data:`BOUNDS` of a neuron pair         P             neuron
    ``xtr``       ``x`` of a neuron pair                  P             neuron
    ``slist``     spike list (:func:`slist_layout`)       N             word
    ``rule``      :data:`RULE_WORD` of a neuron pair      P             neuron
                  (option eligibility)
    ``trip``      TRIPLET_STATE (option triplet)          N             word
    ============  ======================================  ============  ==================

    The parameter memories' words grow with the options (:func:`par_early_layout`,
    :func:`par_mid_layout`, :func:`par_late_layout`), as does ``dep`` (:func:`dep_layout`).

    Attributes: ``banks`` (a list of ``(read, write)`` port pairs), ``<name>_r`` /
    ``<name>_w`` for the others (``pa``, ``pm``, ``pl``, ``neu``, ``acc``, ``dep``, ``bnd``,
    ``x``, ``sl``), ``read_ports`` (all non-bank read ports) and the read data as views:
    ``early``, ``pmid``, ``plate``, ``neu``.  The memories have read latency 1 (synchronous
    read ports) and no initial contents; contention is resolved by whoever drives the ports.

    Synapse banks are used as single-port RAMs (see :class:`Geometry`): each bank's read and
    write ports share one address, and a write suppresses the read, so a schedule error shows
    up as a wrong weight in simulation instead of being hidden by the dual-port model.
    """

    def __init__(self, m, params: CoreParams):
        n = params.n
        geo = Geometry(n)

        def memory(name, shape, depth, granularity=None):
            mem = Memory(shape=shape, depth=depth, init=[])
            m.submodules[name] = mem
            kw = {} if granularity is None else {"granularity": granularity}
            return mem.read_port(), mem.write_port(**kw)

        self.bank_width = bank_layout(params).size
        self.banks = [memory(f"syn{b}", self.bank_width, geo.bank_depth) for b in range(4)]
        early, mid = par_early_layout(params), par_mid_layout(params)
        self.pa_r, self.pa_w = memory("par_a", early.size, n, granularity=1)
        self.pm_r, self.pm_w = memory("par_m", mid.size, n, granularity=1)
        late = par_late_layout(params)
        self.pl_r, self.pl_w = memory("par_l", late.size, n, granularity=1)
        self.neu_r, self.neu_w = memory("neu", NEURON_WORD.size, n, granularity=1)
        self.acc_r, self.acc_w = memory("pend", 2 * F.ACC.width, geo.pairs,
                                        granularity=F.ACC.width)
        dep_w = (data.Layout.cast(dep_layout(params)).size if unrounded_dep(params)
                 else DEP.width)
        self.dep_width = dep_w
        self.dep_r, self.dep_w = memory("dep", 2 * dep_w, geo.pairs, granularity=dep_w)
        self.bnd_r, self.bnd_w = memory("bounds", 2 * BOUNDS.size, geo.pairs,
                                        granularity=BOUNDS.size)
        self.x_r, self.x_w = memory("xtr", 2 * F.TRACE.width, geo.pairs,
                                    granularity=F.TRACE.width)
        sl = slist_layout(params)
        self.sl_r, self.sl_w = memory("slist", unsigned(sl.size if params.triplet
                                                        else params.index_width), n)
        self.read_ports = [self.pa_r, self.pm_r, self.pl_r, self.neu_r, self.acc_r,
                           self.dep_r, self.bnd_r, self.x_r, self.sl_r]
        self.rule_r = self.rule_w = None
        if params.eligibility:
            self.rule_r, self.rule_w = memory("rule", 2 * RULE_WORD.size, geo.pairs,
                                              granularity=RULE_WORD.size)
            self.read_ports.append(self.rule_r)
        self.trip_r = self.trip_w = None
        if params.triplet:
            self.trip_r, self.trip_w = memory("trip", TRIPLET_STATE.size, n)
            self.read_ports.append(self.trip_r)

        self.early = data.View(early, self.pa_r.data)
        self.pmid = data.View(mid, self.pm_r.data)
        self.plate = data.View(late, self.pl_r.data)
        self.neu = data.View(NEURON_WORD, self.neu_r.data)
