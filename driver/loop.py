"""The closed loop: an environment in the loop with a core, on every target.

The host and the core take turns in *exchanges* of ``chunk`` timesteps: the host sends the
inputs of an exchange (the forced neurons of each of its steps, and the reward of each step
where the target supports one), the core runs them and answers their spikes.  A *policy*
(``policy(k, spikes) -> Inputs | None``) is the host's side: it gets the spikes of an earlier
exchange and returns the inputs of exchange ``k``, or ``None`` to stop.

Latency, stated honestly
------------------------
A spike of step ``t`` reaches the host only after step ``t`` has run and its record has
crossed the line, so a loop in which every step's inputs depend on the previous step's
spikes is one round trip per step: the line idles while the host thinks and the core idles
while the line carries.  :class:`ClosedLoop` trades that for a stated delay:

* ``chunk`` steps per exchange: the policy is called once per exchange and the inputs of an
  exchange are fixed before it starts (an environment step is ``chunk`` core steps, the way
  an observation is encoded as a spike train);
* ``lag`` exchanges between the spikes the policy sees and the inputs it sets: the policy
  for exchange ``k`` sees the spikes of exchange ``k - lag`` (``None`` for ``k < lag``), so
  up to ``lag`` exchanges are on their way while the host computes.  ``lag = 1`` is the
  synchronous loop (the policy sees the exchange just run; nothing overlaps); ``lag = 2``
  keeps the core busy with exchange ``k - 1`` while the host computes exchange ``k``.

So a spike of step ``t`` in exchange ``m = t // chunk`` can change the inputs from step
``(m + lag) * chunk`` on: between ``(lag - 1) * chunk + 1`` and ``lag * chunk`` steps
later.  The core's own synaptic delay is one step (``docs/model.md`` 4.2).

A chip holds ``rx_buffers`` requests (:data:`plasticore.protocol.RX_BUFFERS`, 2); the loop
keeps ``min(lag, rx_buffers)`` exchanges in flight (an exchange too long for one frame is
several RUN frames, each counted).  The semantics, and so every spike and weight, are the
same on every target (``ref`` runs the exchanges in the same order, as they are produced);
only the speed differs (``benchmarks/closed_loop.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plasticore import protocol as P

from .chip import LinkError, RequestRejected, _Request
from .runtime import ChipSession, ReferenceSession, RunError, Session

__all__ = ["Inputs", "Forced", "Reward", "Policy", "LoopRecord", "ClosedLoop"]

#: Forced neurons of the steps of an exchange: None (none), a bool array (chunk, n) or
#: ``chunk`` lists of neuron indices.
Forced = np.ndarray | Sequence[Iterable[int]] | None


#: Rewards of the steps of an exchange: None (no step modulated), one number (every step
#: modulated with it) or one entry per step, a number or None (that step not modulated).
Reward = float | Sequence[float | None] | np.ndarray | None


@dataclass
class Inputs:
    """The inputs of one exchange: ``forced`` (see :data:`Forced`) and ``reward`` (see
    :data:`Reward`): the modulator ``r`` of three-factor learning, in [-8, 8), rounded to the
    nearest 1/16 (its format, :data:`plasticore.fixed.MODULATOR`); a modulated step also
    decays the eligibility (``docs/model.md`` 4.6), so a loop that wants the eligibility to
    decay every step gives 0 where it has no reward.  A reward out of range is refused."""
    forced: Forced = None
    reward: Reward = None


#: ``policy(k, spikes) -> Inputs | None``: ``spikes`` is the bool (chunk, n) array of
#: exchange ``k - lag`` (None for ``k < lag``); return the inputs of exchange ``k``, or None
#: to stop (exchanges already produced still run).
Policy = Callable[[int, np.ndarray | None], Inputs | None]


@dataclass
class LoopRecord:
    """What a closed loop ran: ``spikes`` bool (exchanges * chunk, n), the number of
    ``exchanges``, ``chunk`` and ``lag``, and the wall time ``wall_s`` of the loop."""
    spikes: np.ndarray
    exchanges: int
    chunk: int
    lag: int
    wall_s: float
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.exchanges * self.chunk

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else float("inf")


def _check_int(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise RunError(f"{name} must be an integer >= {least}, not {value!r}.")
    return int(value)


class ClosedLoop:
    """An environment in the loop with the core of ``session`` (any target of
    :func:`~plasticore.driver.runtime.open_session`).

    ``chunk`` steps per exchange, the policy seeing the spikes of ``lag`` exchanges earlier
    (module docstring).  :meth:`run` runs until the policy returns None or ``max_exchanges``
    have run and returns a :class:`LoopRecord`.  Bad inputs from the policy (a wrong shape,
    an index outside the core, a reward out of range) raise :class:`RunError` naming the
    exchange; a reward for a core built without the eligibility option raises the driver's
    :class:`~plasticore.driver.chip.MissingOption`.
    """

    def __init__(self, session: Session, *, chunk: int = 1, lag: int = 2) -> None:
        self.session = session
        self.chunk = _check_int("chunk", chunk, 1)
        self.lag = _check_int("lag", lag, 1)

    # -- inputs ---------------------------------------------------------------------------

    def _inputs(self, k: int, got: object) -> Inputs:
        if isinstance(got, Inputs):
            inputs = got
        elif got is None or isinstance(got, (np.ndarray, list, tuple)):
            inputs = Inputs(got)        # a bare raster or list of index lists
        else:
            raise RunError(f"The policy returned {type(got).__name__} for exchange {k}; "
                           f"return Inputs(forced, reward), a forced raster or None.")
        return inputs

    def _modulators(self, k: int, reward: Reward) -> list[int | None] | None:
        """The raw MODULATOR of each step of exchange ``k`` (None: not modulated)."""
        if reward is None:
            return None
        from plasticore import fixed as F

        fmt = F.MODULATOR
        scale = 1 << F.MOD_FRAC
        if isinstance(reward, (int, float, np.integer, np.floating)):
            values: list[Any] = [reward] * self.chunk
        else:
            values = list(reward)
            if len(values) != self.chunk:
                raise RunError(f"Exchange {k} gives rewards for {len(values)} steps; an "
                               f"exchange is {self.chunk} steps.")
        out: list[int | None] = []
        for s, r in enumerate(values):
            if r is None:
                out.append(None)
                continue
            q = float(np.rint(float(r) * scale)) if np.isfinite(float(r)) else np.nan
            if not (fmt.min <= q <= fmt.max):
                raise RunError(f"Exchange {k}, step {s}: reward {r!r} is outside "
                               f"[{fmt.min / scale:g}, {fmt.max / scale:g}], the range of "
                               f"the modulator.")
            out.append(int(q))
        return out

    def _forced(self, k: int, forced: Forced) -> np.ndarray | Sequence[Iterable[int]] | None:
        n, c = self.session.n, self.chunk
        if forced is None:
            return None
        if isinstance(forced, np.ndarray) and forced.dtype == bool:
            if forced.shape != (c, n):
                raise RunError(f"The forced raster of exchange {k} has shape {forced.shape}; "
                               f"an exchange is ({c}, {n}) (steps, neurons).")
            return forced
        rows = list(forced)
        if len(rows) != c:
            raise RunError(f"Exchange {k} forces neurons in {len(rows)} steps; an exchange "
                           f"is {c} steps.")
        out = []
        for s, row in enumerate(rows):
            idx = np.asarray(list(row), dtype=np.int64) if not isinstance(row, np.ndarray) \
                else np.asarray(row)
            if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0
                             or idx.max() >= n):
                raise RunError(f"Exchange {k}, step {s} forces {list(row)!r}; neuron indices "
                               f"must be integers in [0, {n - 1}].")
            out.append(idx)
        return out

    # -- running ----------------------------------------------------------------------------

    def run(self, policy: Policy, max_exchanges: int | None = None) -> LoopRecord:
        """Run exchanges until ``policy`` returns None (or ``max_exchanges`` have run)."""
        limit = None if max_exchanges is None else _check_int("max_exchanges",
                                                              max_exchanges, 0)
        t0 = time.perf_counter()
        if isinstance(self.session, ReferenceSession):
            chunks, stats = self._run_reference(policy, limit)
        elif isinstance(self.session, ChipSession):
            chunks, stats = self._run_chip(policy, limit)
        else:
            raise RunError(f"A closed loop needs a session of open_session(), not "
                           f"{type(self.session).__name__}.")
        wall = time.perf_counter() - t0
        n = self.session.n
        spikes = np.concatenate(chunks) if chunks else np.zeros((0, n), bool)
        return LoopRecord(spikes, len(chunks), self.chunk, self.lag, wall, stats)

    def _produce(self, policy: Policy, k: int, seen: np.ndarray | None,
                 limit: int | None) -> Inputs | None:
        if limit is not None and k >= limit:
            return None
        got = policy(k, seen)
        return None if got is None else self._inputs(k, got)

    def _run_reference(self, policy: Policy,
                       limit: int | None) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The same order as on a chip: exchange k is produced from the spikes of k - lag
        and runs at once (the reference has no line to hide)."""
        model = self.session.model                              # type: ignore[attr-defined]
        chunks: list[np.ndarray] = []
        k = 0
        while True:
            seen = chunks[k - self.lag] if k >= self.lag else None
            inputs = self._produce(policy, k, seen, limit)
            if inputs is None:
                return chunks, {}
            mods = self._modulators(k, inputs.reward)
            forced = self._forced(k, inputs.forced)
            rec = model.run(self.chunk, forced) if mods is None else \
                model.run(self.chunk, forced, modulators=mods)
            chunks.append(rec.spikes)
            k += 1

    def _run_chip(self, policy: Policy,
                  limit: int | None) -> tuple[list[np.ndarray], dict[str, Any]]:
        chip = self.session.chip                                # type: ignore[attr-defined]
        n, c = chip.n, self.chunk
        first = chip.status()["step"]
        chunks: list[np.ndarray] = []
        requests: list[_Request] = []       # grows while _transact runs (its loop re-reads
        owner: list[int] = []               # len(requests)); owner[r] = exchange of request r
        got: list[int] = []                 # steps answered per exchange
        stopped = False

        def submit(k: int, seen: np.ndarray | None) -> None:
            nonlocal stopped
            inputs = None if stopped else self._produce(policy, k, seen, limit)
            if inputs is None:
                stopped = True
                return
            mods = self._modulators(k, inputs.reward)
            forced = self._forced(k, inputs.forced)
            records = chip._input_records(c, forced) if mods is None else \
                chip._input_records(c, forced, mods)
            reqs, _ = chip._run_requests(records, (first + k * c) & 0xFFFFFFFF, ramp=())
            requests.extend(reqs)
            owner.extend([k] * len(reqs))
            chunks.append(np.zeros((c, n), bool))
            got.append(0)

        def take(r: int, body: bytes) -> None:
            k = owner[r]
            offset = 0
            while offset < len(body):
                try:
                    idx, offset = P.decode_record(body, offset, n)
                except ValueError as e:
                    raise LinkError(f"malformed spike record from {chip.url}: {e}") from None
                if got[k] >= c:
                    raise LinkError(f"{chip.url} sent more spike records than steps")
                chunks[k][got[k], idx] = True
                got[k] += 1

        def final(r: int, body: bytes) -> None:
            take(r, body)
            k = owner[r]
            if r + 1 < len(owner) and owner[r + 1] == k:
                return                       # more frames of this exchange to come
            if got[k] != c:
                raise LinkError(f"{chip.url} answered {got[k]} of {c} steps of exchange {k}")
            submit(k + self.lag, chunks[k])

        for k in range(self.lag):
            submit(k, None)
        try:
            chip._transact(requests, on_more=take, on_final=final)
        except KeyboardInterrupt:
            chip.abort()
            raise
        except RequestRejected as e:
            if e.status == P.Status.OUT_OF_SEQUENCE:
                raise LinkError(f"a RUN frame to {chip.url} was lost; the closed loop "
                                f"stopped at step {chip.status()['step'] - first}") from None
            raise
        return chunks, {"frames": len(requests)}
