#!/usr/bin/env python
"""The digits demo (:mod:`plasticore.demos.digits`) with both roundings of the STDP updates.

A benchmark script, not a test: it prints the test accuracy of the demo trained with the
core's round-to-nearest updates and with stochastic rounding, on the same data, encoder
seed and training order (only the rounding differs; the stochastic run is repeated for
``--rounding-seeds`` seeds of the rounding hash if the compiler's rule takes one).

Run::

    python benchmarks/digits_rounding.py                   # reference, full data, 3 epochs
    python benchmarks/digits_rounding.py --target sim --train 300 --test 200 --epochs 1
"""

from __future__ import annotations

import argparse

from plasticore.demos.digits import ROUNDINGS, run_demo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ref")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train", type=int, default=None)
    ap.add_argument("--test", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"digits demo on {args.target}: {args.epochs} epoch(s), seed {args.seed}")
    print(f"{'rounding':<12}{'test accuracy':>15}{'online train':>14}{'weights changed':>17}"
          f"{'bit-exact':>11}")
    for rounding in ROUNDINGS:
        s = run_demo(target=args.target, epochs=args.epochs, n_train=args.train,
                     n_test=args.test, seed=args.seed, out=None, progress=False,
                     plots=False, rounding=rounding)
        exact = "n/a (ref)" if args.target == "ref" else \
            str(s["weights_match"] and s["spikes_match"])
        print(f"{rounding:<12}{s['accuracy']:>14.1%} {s['train_online_accuracy']:>13.1%}"
              f"{s['weights_changed']:>17}{exact:>11}")


if __name__ == "__main__":
    main()
