"""Predict: `python predict.py ckpt_path=<run>/checkpoints/last.ckpt input=rows.csv output=pred.csv`."""

from litlab.predict import main

if __name__ == "__main__":
    main()
