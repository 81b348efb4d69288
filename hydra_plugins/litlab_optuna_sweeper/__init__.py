"""litlab's Optuna sweeper for Hydra (`hydra/sweeper=litlab_optuna`, chosen by conf/hparams_search/):
searches on current Optuna with pruning and studies that persist and resume. See docs/search.md.

Hydra imports every module of the `hydra_plugins` namespace at start-up: nothing here imports optuna
or torch until a search begins.
"""
