"""Process-wide helpers: config resolvers, logging, ranks, threads, the DDP launch inside Hydra jobs.

Light: importing this package must not import torch.
"""
