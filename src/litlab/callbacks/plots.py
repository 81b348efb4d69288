"""The lectures' figures of a model over its data: fitted curve, P(class 1) vs x, decision regions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from litlab.callbacks.drawing import fitted

Predict = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PlotData:
    """What a figure shows: the model (as a function of inputs) and the points it was fitted to."""

    predict: Predict  # inputs (n, features) -> values (n, targets) or class probabilities (n, classes)
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    shared: bool  # train and test are the same rows (the lectures' tables): drawn once
    queries: torch.Tensor  # (k, features) inputs to mark, possibly none
    title: str  # the net, e.g. "MLP 2-4-5-1"
    axes: list[str]  # one name per input feature
    classes: list[str]  # class names; empty for regression
    task: str  # the model's: binary, multiclass or regression

    def span(self, feature: int, steps: int) -> torch.Tensor:
        """Evenly spaced values over every point's range of one feature, widened by a tenth each side."""
        values = torch.cat([self.train[0], self.test[0], self.queries])[:, feature]
        low, high = values.min().item(), values.max().item()
        pad = (high - low) * 0.1 or 1.0  # a single distinct value still gets a range
        return torch.linspace(low - pad, high + pad, steps)


def new_figure(size: tuple[float, float]):
    """A matplotlib Figure of its own, outside pyplot's global state (no window, no leak)."""
    from matplotlib.figure import Figure  # deferred: matplotlib costs half a second to import

    figure = Figure(figsize=size, dpi=100)
    return figure, figure.add_subplot()


def points_1d(ax, data: PlotData, values: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Training points as dots, test points as crosses (once, when they are the same rows)."""
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    label = "data (train = val = test)" if data.shared else "train"
    ax.scatter(x_train[:, 0], values(y_train), s=18, c="tab:blue", label=label, zorder=3)
    if not data.shared:
        ax.scatter(x_test[:, 0], values(y_test), s=30, c="tab:orange", marker="x", label="test", zorder=3)


def queries_1d(ax, data: PlotData, values: torch.Tensor) -> None:
    """The query points as stars on the model's curve, each with its value."""
    ax.scatter(data.queries[:, 0], values, marker="*", s=160, c="tab:green", label="queries", zorder=4)
    for x, y in zip(data.queries[:, 0].tolist(), values.tolist(), strict=True):
        ax.annotate(f"{y:.4g}", (x, y), textcoords="offset points", xytext=(6, -12))


def finish(figure, ax, **labels):
    """Axis labels and title (wrapped to the figure's width), a light grid and the legend; returns the
    figure."""
    if "title" in labels:
        labels["title"] = fitted(figure, labels["title"], per_inch=10)
    ax.set(**labels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def curve_figure(data: PlotData):
    """1-D regression: the fitted curve over the data points (the lectures' plot_module)."""
    figure, ax = new_figure((6, 4.5))
    grid = data.span(0, 300)[:, None]
    points_1d(ax, data, values=lambda y: y[:, 0])
    ax.plot(grid[:, 0], data.predict(grid)[:, 0], c="tab:red", label=f"fit ({data.title})")
    if len(data.queries):
        queries_1d(ax, data, data.predict(data.queries)[:, 0])
    return finish(figure, ax, xlabel=data.axes[0], ylabel="y", title="fitted curve over the data")


def probability_figure(data: PlotData):
    """1-D binary classification: P(class 1) against x with the 0.5 line, the labels at 0 and 1."""
    figure, ax = new_figure((6, 4.5))
    grid = data.span(0, 300)[:, None]
    positive = f"P({data.classes[1]})"
    points_1d(ax, data, values=lambda y: y.float())
    ax.plot(grid[:, 0], data.predict(grid)[:, 1], c="tab:red", label=f"{positive} ({data.title})")
    ax.axhline(0.5, c="k", ls="--", lw=1, label="0.5")
    if len(data.queries):
        queries_1d(ax, data, data.predict(data.queries)[:, 1])
    labels = {"xlabel": data.axes[0], "ylabel": positive, "ylim": (-0.05, 1.05)}
    return finish(figure, ax, title=f"{positive} vs {data.axes[0]}", **labels)


def regions_figure(data: PlotData):
    """2-D classification: P(class 1) (or the most likely class) over the plane, the points on top."""
    figure, ax = new_figure((6, 5))
    gx, gy = torch.meshgrid(data.span(0, 200), data.span(1, 200), indexing="xy")
    out = data.predict(torch.stack([gx.flatten(), gy.flatten()], dim=1))
    if data.task == "binary":
        surface = out[:, 1].reshape(gx.shape)
        filled = ax.contourf(gx, gy, surface, levels=20, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.6)
        ax.contour(gx, gy, surface, levels=[0.5], colors="k", linewidths=1.5)
        figure.colorbar(filled, ax=ax, label=f"P({data.classes[1]})")
        colors = ["tab:blue", "tab:red"]
    else:
        levels = torch.arange(len(data.classes) + 1) - 0.5
        ax.contourf(gx, gy, out.argmax(1).reshape(gx.shape), levels=levels, cmap="tab10", alpha=0.35)
        colors = [f"C{k}" for k in range(len(data.classes))]  # tab10's colours, class by class
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    for k, name in enumerate(data.classes):
        ax.scatter(*x_train[y_train == k].T, s=14, c=colors[k], edgecolors="k", linewidths=0.4, label=name)
        if not data.shared:
            ax.scatter(*x_test[y_test == k].T, s=40, c=colors[k], marker="X", edgecolors="k", linewidths=0.6)
    if len(data.queries):
        ax.scatter(
            *data.queries.T, marker="*", s=200, c="tab:green", edgecolors="k", label="queries", zorder=4
        )
    which = "" if data.shared else " (dots train, crosses test)"
    return finish(
        figure, ax, xlabel=data.axes[0], ylabel=data.axes[1], title=f"decision regions, {data.title}{which}"
    )
