"""Train a population of small nets (every fold of a CV run) as one."""
