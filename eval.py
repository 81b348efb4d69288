"""Evaluate a checkpoint: `python eval.py ckpt_path=logs/diabetes/runs/<time>/checkpoints/last.ckpt`."""

from litlab.evaluate import main

if __name__ == "__main__":
    main()
