"""The run folder: its name, the files in it, how a run ended, how it resumes, and sweep summaries.

Light: importing this package must not import torch (the sweep summary and the resolvers use it).
"""
