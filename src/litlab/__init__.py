"""litlab: a PyTorch Lightning + Hydra research template."""

from litlab.runtime.resolvers import register_resolvers

__version__ = "0.1.0"

# Configs use ${repo_root:} and ${num_outputs:...}; importing litlab is enough to resolve them.
register_resolvers()
