"""The main job: learn scikit-learn's 8x8 digits on the chip with STDP (``plasticore demo``).

**Network** (written with :mod:`plasticore.compiler`): 64 input neurons (one per pixel, fired
by the host) project all-to-all onto 10 output neurons (one per digit) through plastic signed
weights, initially 0.  Outputs are LIF neurons (``tau_mem`` = 10 steps, no synaptic current,
threshold 2^16 LSB, weight LSB 2^3); nothing else.  The network needs 74 neurons; it runs
on a core of :data:`NEURONS`.

**Encoding.** A pixel of intensity ``v`` (0..16) fires at step ``t`` of an image iff
``(t v + phase) mod 16 < v``: exactly ``v/16`` spikes per step, evenly spaced, with a fixed
per-pixel phase drawn from the seed (deterministic, no Poisson noise).  Every image is shown
for :data:`STEPS` steps after a :meth:`~plasticore.driver.Chip.reset` (neuron state and
traces to 0, weights kept).

**Learning: supervised pair STDP, a delta rule in spikes.**  During training the labelled
output is forced to fire (a teacher spike) in each of the last :data:`TEACH` steps of the
image, while the inputs go on firing.  With a short pre-synaptic trace (``tau_plus`` = 1 step)
and a long post-synaptic one (``tau_minus`` = 16 steps):

* a *teacher* spike near the end potentiates the synapses of the pixels firing with it
  (``+A_plus x_j``) and is followed by few pre spikes, so it is mostly potentiation;
* a *natural* output spike (the output's own prediction) is followed by the rest of the
  image's input spikes, each of which depresses its synapse by ``A_minus y'``: with
  ``A_minus tau_minus`` well above ``A_plus tau_plus`` every natural spike is a net
  depression of the active pixels' weights.

Per image an output's weights so move by about ``rate_j (target - n_spikes)``: the teacher
pulls the right output up until it fires by itself, every output that fires is pushed down in
proportion to its spikes.  That is the delta rule of a linear classifier (with rectified
outputs), realised by the core's own exponential pair rule, per-neuron traces and bounds
([-128, 127]: pixels can become inhibitory evidence).  It needs no hidden neurons and no
lateral inhibition: they did not help in the exploration.

**Test.** Learning off, no teacher; the prediction is the output with the most spikes (ties:
the earliest first spike, then the lowest digit).  The online training accuracy is the same
prediction read from the steps before the teacher spikes, with learning on.

**Bit-exactness.** On every target but ``ref`` a reference model (the numba kernel if
available) runs the same images in lock step; the spikes of every image and, at the end, the
full weight matrix read back from the chip must equal the reference's bit for bit.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from plasticore.compiler import Network, Program

__all__ = ["NEURONS", "ROUNDINGS", "STEPS", "TEACH", "EPOCHS", "DigitsData", "load_data",
           "build_network", "compile_network", "Encoder", "train_raster", "test_raster", "predict",
           "run_demo", "write_plots", "format_summary"]

#: Core size the demo runs on (64 inputs + 10 outputs, rounded up).
NEURONS = 80
#: Timesteps per image.
STEPS = 20
#: Teacher spikes: the labelled output is forced in the last TEACH steps of a training image.
TEACH = 4
#: Default number of passes over the training set.
EPOCHS = 3
#: Images sent to the target as one pipelined stream of requests
#: (:meth:`~plasticore.driver.runtime.Session.run_each`): the core never waits for a round
#: trip between them, and progress, online accuracy and the reference check follow every
#: batch (16 images = 320 steps, a few tenths of a second on the simulated board).
BATCH = 16
#: The split of NeuroCoreX's tutorial.
TEST_SIZE, SPLIT_SEED = 0.33, 42

DT = 1e-3          # seconds per step: the time constants below are whole steps


@dataclass
class DigitsData:
    x_train: np.ndarray     # int (n, 64), 0..16
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(n_train: int | None = None, n_test: int | None = None) -> DigitsData:
    """scikit-learn's digits with ``test_size=0.33, random_state=42`` (1,203 / 594 images);
    ``n_train``/``n_test`` keep the first that many of each part."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x.astype(np.int64), y.astype(np.int64),
                                          test_size=TEST_SIZE, random_state=SPLIT_SEED)
    return DigitsData(xtr[:n_train], ytr[:n_train], xte[:n_test], yte[:n_test])


#: Rounding of the STDP updates: the core's round-to-nearest, or stochastic rounding.
ROUNDINGS = ("nearest", "stochastic")


def build_network(rounding: str = "nearest") -> Network:
    """The description: ``pixels`` (64 inputs) -> ``digits`` (10 LIF) with STDP whose
    updates are rounded ``rounding`` (:data:`ROUNDINGS`)."""
    from plasticore.compiler import LIF, STDP, AllToAll, Network

    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
    # Only a stochastic rule names its rounding, so that the nearest rule stays today's.
    extra = {"rounding": rounding} if rounding != "nearest" else {}

    lsb = 2.0 ** 3 / 2.0 ** 16          # one weight LSB in thresholds (w_shift 3, k 16)
    net = Network(dt=DT, name="digits")
    pixels = net.inputs("pixels", 64)  # fired by the host, image by image
    digits = net.population("digits", 10, LIF(tau_mem=10 * DT, tau_syn=0.0, v_threshold=1.0,
                                              v_rest=0.0, v_reset=0.0))
    net.connect(pixels, digits, AllToAll(0.0), name="pixels->digits",
                stdp=STDP(tau_plus=1 * DT, tau_minus=16 * DT, A_plus=2 * lsb, A_minus=1 * lsb,
                          w_min=-128 * lsb, w_max=127 * lsb, **extra))
    return net


def compile_network(n: int = NEURONS, rounding: str = "nearest") -> Program:
    """Compile :func:`build_network` for a core of ``n`` neurons; returns the Program."""
    from plasticore.compiler import compile as compile_program

    return compile_program(build_network(rounding), n=n)


class Encoder:
    """Deterministic rate code: pixel ``j`` of intensity ``v`` fires at step ``t`` iff
    ``(t v + phase_j) mod 16 < v``."""

    def __init__(self, seed: int):
        self.phase = np.random.default_rng(seed).integers(0, 16, 64)

    def __call__(self, image: np.ndarray, steps: int = STEPS) -> np.ndarray:
        v = np.asarray(image, np.int64)
        t = np.arange(steps)[:, None]
        return ((t * v[None, :] + self.phase[None, :]) % 16) < v[None, :]


def _raster(pixels, n, inputs):
    f = np.zeros((pixels.shape[0], n), bool)
    f[:, inputs] = pixels
    return f


def train_raster(encoder: Encoder, image: np.ndarray, label: int, n: int, inputs: np.ndarray,
                 outputs: np.ndarray) -> np.ndarray:
    """Forced spikes (STEPS, n) of a training image: its pixels and the teacher."""
    f = _raster(encoder(image), n, inputs)
    f[STEPS - TEACH:, outputs[label]] = True
    return f


def test_raster(encoder: Encoder, image: np.ndarray, n: int, inputs: np.ndarray
                ) -> np.ndarray:
    return _raster(encoder(image), n, inputs)


def predict(out_spikes: np.ndarray) -> int:
    """The digit with the most spikes; ties: earliest first spike, then lowest index."""
    s = np.asarray(out_spikes, bool)
    counts = s.sum(0)
    first = np.where(s.any(0), s.argmax(0), s.shape[0])
    return int(np.lexsort((np.arange(s.shape[1]), first, -counts))[0])


# -- running ----------------------------------------------------------------------------------

class _Runner:
    """Runs images on the target's session and, on every target but ``ref``, on a reference
    in lock step, comparing the spikes of every image."""

    def __init__(self, session, config):
        from plasticore.driver.runtime import reference_model

        self.session = session
        self.ref = None if session.target == "ref" else reference_model(config, fast=True)
        self.spikes_match = True
        self.mismatch = None

    def set_learning(self, on):
        self.session.learning = bool(on)
        if self.ref is not None:
            self.ref.learning = bool(on)

    def run_images(self, rasters):
        """Each raster run from a reset (one pipelined stream); the spikes of each, checked
        against the reference's.  The reference runs the same images in a second thread
        while the target runs them: the driver thread spends the stream waiting on the line
        (in ``select``, without the GIL), so on two cores the check costs no wall time
        (it was ~10 % of the demo's run time when it ran after each batch)."""
        if self.ref is None:
            return self.session.run_each(rasters)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            expected = pool.submit(self._reference, rasters)
            results = self.session.run_each(rasters)
            for got, expect in zip(results, expected.result(), strict=True):
                if self.spikes_match and not np.array_equal(got, expect):
                    self.spikes_match = False
                    step = int(np.flatnonzero((got != expect).any(1))[0])
                    self.mismatch = (f"the spikes of {self.session.target} and the "
                                     f"reference differ at step {step} of an image")
        return results

    def _reference(self, rasters):
        """The reference's spikes of each raster, each run from a reset."""
        out = []
        for forced in rasters:
            self.ref.reset()
            out.append(self.ref.run(len(forced), forced=forced).spikes)
        return out

    def weights(self):
        """``(weights read from the target, the reference's weights)``."""
        got = self.session.read_weights()
        return got, (got if self.ref is None else self.ref.weights)


class _Progress:
    def __init__(self, enabled, stream=sys.stderr):
        self.enabled, self.stream = enabled, stream
        self.tty = enabled and stream.isatty()
        self.last = 0.0

    def __call__(self, text, final=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


@dataclass
class _Task:
    """What a session needs: the data, the encoder, the network's neurons, the shuffling."""
    data: DigitsData
    encoder: Encoder
    n: int
    inputs: np.ndarray
    outputs: np.ndarray
    rng: np.random.Generator
    epochs: int
    show: _Progress


@dataclass
class _Outcome:
    weights: np.ndarray
    ref_weights: np.ndarray
    preds: np.ndarray
    online: list
    test_spikes: np.ndarray
    steps: int
    wall: float
    train_wall: float
    spikes_match: bool
    mismatch: str | None


def _train(runner, task, t_start):
    """The epochs of supervised STDP; returns the online predictions' correctness."""
    d, online, steps = task.data, [], 0
    runner.set_learning(True)
    for ep in range(task.epochs):
        order = task.rng.permutation(len(d.x_train))
        for k in range(0, len(order), BATCH):
            batch = order[k:k + BATCH]
            rasters = [train_raster(task.encoder, d.x_train[idx], d.y_train[idx], task.n,
                                    task.inputs, task.outputs) for idx in batch]
            for idx, s in zip(batch, runner.run_images(rasters), strict=True):
                steps += STEPS
                online.append(predict(s[:STEPS - TEACH, task.outputs]) == d.y_train[idx])
            done = k + len(batch)
            rate = steps / max(time.perf_counter() - t_start, 1e-9)
            task.show(f"train epoch {ep + 1}/{task.epochs}: image {done}/{len(order)}, online "
                      f"accuracy {np.mean(online[-done:]):.1%}, {rate:,.0f} steps/s",
                      final=done == len(order))
    return online, steps


def _test(runner, task, t_start, steps):
    """Learning off, no teacher: the predictions and the spikes of the first test image."""
    d, preds, first = task.data, [], None
    runner.set_learning(False)
    for k in range(0, len(d.x_test), BATCH):
        rasters = [test_raster(task.encoder, img, task.n, task.inputs)
                   for img in d.x_test[k:k + BATCH]]
        for s in runner.run_images(rasters):
            steps += STEPS
            preds.append(predict(s[:, task.outputs]))
            if first is None:
                first = s
        done = len(preds)
        rate = steps / max(time.perf_counter() - t_start, 1e-9)
        task.show(f"test: image {done}/{len(d.x_test)}, accuracy "
                  f"{np.mean(np.array(preds) == d.y_test[:done]):.1%}, {rate:,.0f} steps/s",
                  final=done == len(d.x_test))
    return np.array(preds), first, steps


def _session(session, config, task):
    runner = _Runner(session, config)
    t_start = time.perf_counter()
    online, steps = _train(runner, task, t_start)
    t_train = time.perf_counter() - t_start
    preds, test_spikes, steps = _test(runner, task, t_start, steps)
    weights, ref_weights = runner.weights()
    return _Outcome(weights, ref_weights, preds, online, test_spikes, steps,
                    time.perf_counter() - t_start, t_train, runner.spikes_match,
                    runner.mismatch)


def run_demo(target: str = "sim-bytes", epochs: int = EPOCHS, n_train: int | None = None,
             n_test: int | None = None, seed: int = 1, out: str | None = "out/demo",
             progress: bool = True, plots: bool = True,
             rounding: str = "nearest") -> dict[str, Any]:
    """Train on the target with STDP (updates rounded ``rounding``: :data:`ROUNDINGS`),
    test, check the weights against the reference, write the plots; returns the summary (a
    JSON-able dict).  The target is reached through
    :func:`plasticore.driver.runtime.open_session`; its failures raise
    :class:`~plasticore.driver.DriverError`."""
    from plasticore.driver.runtime import open_session

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    data = load_data(n_train, n_test)
    if len(data.x_train) == 0 or len(data.x_test) == 0:
        raise ValueError("need at least one training and one test image")
    program = compile_network(NEURONS, rounding)
    cfg = program.config
    task = _Task(data, Encoder(seed), program.n, program.population_indices("pixels"),
                 program.population_indices("digits"), np.random.default_rng(seed), epochs,
                 _Progress(progress))
    t_open = time.perf_counter()
    if target != "ref":
        task.show(f"opening {target} ({NEURONS} neurons)...", final=True)
    with open_session(target, cfg, fast_reference=True) as session:
        device = session.device
        chip = getattr(session, "chip", None)
        if chip is not None:
            chip.traffic = []           # the line traffic, for the board's projected speed
        result = _session(session, cfg, task)
    summary = _summary(target, device, task, result, cfg.weights, seed, out,
                       time.perf_counter() - t_open)
    if chip is not None:
        summary.update(_projection(chip.traffic, task.n))
    summary["rounding"] = rounding
    conf = np.zeros((10, 10), np.int64)
    np.add.at(conf, (data.y_test, result.preds), 1)
    if out:
        _write_outputs(out, summary, task, result, conf, plots)
    summary["confusion"] = conf.tolist()
    return summary


def _projection(traffic, n) -> dict[str, Any]:
    """The speed an iCEBreaker (its default clock, 1 Mbaud) would reach on the same requests:
    :mod:`plasticore.sim.projection` (the core's cycle formula and the line rate)."""
    from plasticore.protocol import DEFAULT_BAUD
    from plasticore.sim.projection import board_steps_per_s, projected_clock_hz, projected_label

    rate = board_steps_per_s(traffic, n, clock_hz=projected_clock_hz(), baud=DEFAULT_BAUD)
    return {"board_steps_per_s": round(rate, 1), "board": projected_label()}


def _summary(target, device, task, r, w0, seed, out, total_wall):
    d = task.data
    correct = int((r.preds == d.y_test).sum())
    learned = r.weights[np.ix_(task.inputs, task.outputs)]
    summary = {
        "target": target,
        "device": device,
        "neurons": task.n,
        "epochs": task.epochs,
        "seed": seed,
        "train_images": len(d.x_train),
        "test_images": len(d.x_test),
        "steps_per_image": STEPS,
        "accuracy": correct / len(d.x_test),
        "correct": correct,
        "train_online_accuracy": float(np.mean(r.online[-len(d.x_train):])),
        "timesteps": r.steps,
        "steps": r.steps,
        "spikes_out_test": int(r.test_spikes[:, task.outputs].sum()),
        "wall_s": round(r.wall, 3),
        "train_wall_s": round(r.train_wall, 3),
        "session_wall_s": round(total_wall, 3),
        "steps_per_s": round(r.steps / r.wall, 1) if r.wall > 0 else None,
        "weights_match": bool(np.array_equal(r.weights, r.ref_weights)),
        "spikes_match": r.spikes_match,
        "weights_changed": int((r.weights != w0).sum()),
        "weight_range": [int(learned.min()), int(learned.max())],
        "out": out,
        "plots": [],
    }
    if r.mismatch:
        summary["mismatch"] = r.mismatch
    return summary


def _write_outputs(out, summary, task, r, conf, plots):
    """weights.npy, confusion.npy, the plots and summary.json in ``out``."""
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "weights.npy"), r.weights)
    np.save(os.path.join(out, "confusion.npy"), conf)
    if plots:
        d = task.data
        learned = r.weights[np.ix_(task.inputs, task.outputs)]
        summary["plots"] = write_plots(out, learned, r.test_spikes, task.inputs, task.outputs,
                                       d.x_test[0], int(d.y_test[0]), int(r.preds[0]), conf,
                                       summary)
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)


# -- plots -------------------------------------------------------------------------------------

def write_plots(out: str, learned: np.ndarray, spikes: np.ndarray, inputs: np.ndarray,
                outputs: np.ndarray, image: np.ndarray, label: int, pred: int, conf: np.ndarray,
                summary: dict[str, Any]) -> list[str]:
    """Write weights.png, raster.png and confusion.png to ``out``; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(2, 5, figsize=(10, 4.6), constrained_layout=True)
    lim = max(1, int(np.abs(learned).max()))
    for d, ax in enumerate(axes.flat):
        im = ax.imshow(learned[:, d].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"digit {d}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight (LSB)")
    fig.suptitle(f"learned pixel -> digit weights ({summary['target']}, "
                 f"{summary['epochs']} epochs, test accuracy {summary['accuracy']:.1%})")
    paths.append(os.path.join(out, "weights.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig = plt.figure(figsize=(11, 5.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 2.6], height_ratios=[64, 16])
    ax0 = fig.add_subplot(grid[:, 0])
    ax0.imshow(np.asarray(image).reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    ax0.set_title(f"test image 0\nlabel {label}, predicted {pred}", fontsize=10)
    ax0.set_xticks([])
    ax0.set_yticks([])
    ax1 = fig.add_subplot(grid[0, 1])
    ax2 = fig.add_subplot(grid[1, 1], sharex=ax1)
    t_in, j_in = np.nonzero(spikes[:, inputs])
    t_out, j_out = np.nonzero(spikes[:, outputs])
    ax1.scatter(t_in, j_in, s=12, marker="|", color="0.3")
    ax1.set_ylim(-1, 64)
    ax1.set_ylabel("pixel (forced)")
    ax1.set_title("spike raster, learning off")
    ax1.tick_params(labelbottom=False)
    ax2.scatter(t_out, j_out, s=60, marker="|", color="tab:red")
    ax2.set_ylim(-0.7, 9.7)
    ax2.set_yticks(range(10))
    ax2.tick_params(axis="y", labelsize=7)
    ax2.set_ylabel("digit")
    ax2.set_xlim(-0.5, spikes.shape[0] - 0.5)
    ax2.set_xlabel("timestep")
    paths.append(os.path.join(out, "raster.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5), constrained_layout=True)
    ax.imshow(conf, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if conf[i, j]:
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if conf[i, j] > conf.max() / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_title(f"confusion, {summary['correct']}/{summary['test_images']} correct")
    paths.append(os.path.join(out, "confusion.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


#: Fewer training presentations (images x epochs) than this leave most outputs without a
#: teacher-grown weight above threshold: 100 x 1 scores 12 % (chance 10 %), 200 x 2 87 %.
FEW_PRESENTATIONS = 400


def _few_presentations_note(s: dict[str, Any]) -> str:
    shown = s["train_images"] * s["epochs"]
    if shown >= FEW_PRESENTATIONS:
        return ""
    return (f"\n                  (only {shown} training presentations: a smoke test, not a "
            f"result; --train 200 --epochs 2 reaches about 87 %, the default about 90 %)")


def _board_note(s: dict[str, Any]) -> str:
    if "board_steps_per_s" not in s:
        return ""
    return (f"; an {s['board']} at most {s['board_steps_per_s']:,.0f} on the same requests"
            f"\n                  (projected: the core's cycle formula and the line rate, "
            f"no USB latency)")


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable report of :func:`run_demo`'s summary."""
    lines = [
        "plasticore demo: 8x8 digits, 64 inputs -> 10 outputs, supervised STDP on the chip",
        f"  target          {s['target']} ({s['device']}), {s['neurons']} neurons",
        f"  data            {s['train_images']} training / {s['test_images']} test images, "
        f"{s['steps_per_image']} steps each, {s['epochs']} epoch(s), seed {s['seed']}",
        f"  STDP rounding   {s.get('rounding', 'nearest')}",
        f"  test accuracy   {s['accuracy']:.1%} ({s['correct']}/{s['test_images']})"
        + _few_presentations_note(s),
        f"  online train    {s['train_online_accuracy']:.1%} (last epoch, learning on)",
        f"  timesteps       {s['timesteps']:,}",
        f"  wall time       {s['wall_s']:.1f} s (training {s['train_wall_s']:.1f} s; with "
        f"set-up {s['session_wall_s']:.1f} s)",
        f"  speed           {s['steps_per_s']:,.0f} timesteps/s" + _board_note(s),
    ]
    if s["target"] == "ref":
        lines.append("  weights         the reference model's own (no chip to compare)")
    else:
        ok = s["weights_match"] and s["spikes_match"]
        lines.append(f"  bit-exact       {'yes' if ok else 'NO'}: weights read back "
                     f"{'equal' if s['weights_match'] else 'DIFFER FROM'} the reference's, "
                     f"spikes {'equal' if s['spikes_match'] else 'DIFFER'}"
                     + (f" ({s['mismatch']})" if s.get("mismatch") else ""))
    lines.append(f"  weights         {s['weights_changed']} changed, range "
                 f"{s['weight_range'][0]} .. {s['weight_range'][1]}")
    if s["plots"]:
        lines.append(f"  plots           {', '.join(s['plots'])}")
    elif s["out"]:
        lines.append(f"  output          {s['out']}")
    return "\n".join(lines)
