"""Readers of the data sets' files as distributed (CSV, IDX, CIFAR pickles), and checked downloads."""
