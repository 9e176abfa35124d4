#!/usr/bin/env python
"""The reward-learning task: FrozenLake learned with three-factor STDP, environment in the
loop (:mod:`plasticore.demos.reward`).

A benchmark script, not a test: it prints figures.  The task runs on ``--target`` (default
the simulated board) and, unless the target is ``ref``, also on the reference model; every
spike of every step and the final weight matrix of the two runs must be equal (exit status 1
otherwise).  Printed: the mean return of the last 100 episodes against the random policy's
(measured here over 10,000 episodes), the ratio, the episodes to the first goal, and the
speed of the loop.

Run::

    python benchmarks/reward_task.py --target ref              # fast: the reference alone
    python benchmarks/reward_task.py                           # the simulated board + ref
    python benchmarks/reward_task.py --seeds 0,1,2,3 --target ref
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from plasticore.demos import reward as R


def _line(label, res):
    returns = res["returns"]
    last = returns[-100:].mean()
    goals = np.flatnonzero(returns > 0)
    first = int(goals[0]) + 1 if goals.size else None
    return (f"{label:<10}{len(returns):>9}{last:>11.2f}{returns.mean():>10.2f}"
            f"{first!s:>12}{res['steps']:>10,}{res['wall_s']:>9.1f}"
            f"{res['steps'] / res['wall_s']:>10,.0f}"), last


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="sim")
    ap.add_argument("--episodes", type=int, default=R.EPISODES)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds of the task")
    ap.add_argument("--rounding", choices=("nearest", "stochastic"), default="stochastic")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rand = R.random_return(10_000, seed=0)
    print(f"{R.ENV_ID} {R.ENV_KWARGS}: three-factor STDP ({args.rounding} rounding), "
          f"{args.episodes} episodes, {R.CHUNK} steps per move, closed loop with lag 1")
    print(f"random policy: mean return {rand:.4f} over 10,000 episodes")
    print(f"{'run':<10}{'episodes':>9}{'last 100':>11}{'all':>10}{'first goal':>12}"
          f"{'steps':>10}{'wall s':>9}{'steps/s':>10}")
    ok, lasts = True, []
    for seed in seeds:
        runs = {}
        for target in dict.fromkeys(["ref", args.target]):
            runs[target] = R.run_task(target, args.episodes, seed, args.rounding)
            text, last = _line(f"{target}:{seed}", runs[target])
            print(text, flush=True)
        lasts.append(last)
        if args.target != "ref":
            a, b = runs["ref"], runs[args.target]
            same = np.array_equal(a["spikes"], b["spikes"]) and \
                np.array_equal(a["weights"], b["weights"])
            print(f"  {args.target} vs ref, seed {seed}: every spike ({a['steps']:,} steps) "
                  f"and the final weights {'EQUAL' if same else 'DIFFER'}")
            ok &= same
    mean = float(np.mean(lasts))
    print(f"mean return of the last 100 episodes: {mean:.3f} = {mean / rand:.1f} x the random "
          f"policy's {rand:.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
