"""Train a model: `python train.py experiment=diabetes` (configs in conf/, code in src/litlab/)."""

from litlab.train import main

if __name__ == "__main__":
    main()
