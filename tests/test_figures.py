"""Figures and reports name the classes and carry the run's title (its experiment and what it varied)."""

from __future__ import annotations

import pytest
import torch
from matplotlib.image import imread

from litlab.callbacks.classification_report import write_report
from litlab.callbacks.drawing import confusion_figure, titled
from litlab.runs.layout import run_title


def test_the_confusion_matrix_and_report_carry_the_title_and_the_class_names(tmp_path):
    title = run_title("diabetes", ["experiment=diabetes", "model.optimizer.lr=0.003", "seed=1"], None)
    assert title == "diabetes: lr=0.003, seed=1"
    table = ["data=table", "data.path=/w/wine.csv", "task_name=wine", "monitor.metric=val/acc", "cv.folds=5"]
    assert run_title("wine", table, None) == "wine: data=table, folds=5, metric=val/acc"  # no path, no name
    confusion = torch.tensor([[40, 13], [9, 90]])
    markdown, png = write_report(tmp_path, confusion, ["diabetes", "no diabetes"], title)
    assert markdown.startswith(f"**{title}**\n") and "| no diabetes | " in markdown
    assert png == (tmp_path / "confusion_matrix.png").read_bytes()  # what TensorBoard gets too
    figure = confusion_figure(confusion, ["diabetes", "no diabetes"], title)
    assert figure._suptitle.get_text() == title
    ax = figure.axes[0]
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):  # the classes by name on both axes
        assert [t.get_text() for t in ticks] == ["diabetes", "no diabetes"]
    assert (tmp_path / "classification_report.md").read_text() == markdown
    assert imread(tmp_path / "confusion_matrix.png").shape[:2] == (400, 400)
    header = (tmp_path / "confusion_matrix.csv").read_text().splitlines()[0]
    assert header == "true\\predicted,diabetes,no diabetes"


def test_a_long_title_is_wrapped_to_the_figure_and_none_leaves_it_untitled():
    from matplotlib.figure import Figure

    long = "caf: " + ", ".join(f"key{k}=0.00{k}" for k in range(12))
    figure = titled(Figure(figsize=(4, 4)), long)
    lines = figure._suptitle.get_text().splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 44 and " ".join(lines) == long
    assert titled(Figure(), "")._suptitle is None


def test_the_runs_title_and_a_long_axes_title_keep_apart():
    """A figure laid out before it is titled (plots.finish lays out each figure) is laid out again, so
    the run's title stays above the axes' title; a long axes title wraps to the figure's width."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from litlab.callbacks.plots import finish, new_figure

    figure, ax = new_figure((6, 4.5))
    ax.plot([0, 1], [0, 1], label="fit")
    axes_title = "decision regions, MLP 2-4-5-1 + linear path (dots train, crosses test)"
    finish(figure, ax, xlabel="x1", ylabel="x2", title=axes_title)
    assert ax.get_title().count("\n") == 1 and ax.get_title().replace("\n", " ") == axes_title
    titled(figure, "moons")
    renderer = FigureCanvasAgg(figure).get_renderer()
    above, below = figure._suptitle.get_window_extent(renderer), ax.title.get_window_extent(renderer)
    assert above.y0 >= below.y1, (above, below)  # display coordinates: y grows upwards


def test_a_drawing_process_draws_the_figures_this_process_would(tmp_path, monkeypatch):
    import numpy as np

    from litlab.callbacks import drawing
    from litlab.callbacks.drawing import FigurePool, drawn

    names = ["diabetes", "no diabetes"]
    jobs = [(np.array([[40, 12], [10, 90 + k]]), names, f"diabetes (fold_0_{k})") for k in range(3)]
    here = [drawn(confusion_figure, job) for job in jobs]
    monkeypatch.setattr(drawing, "drawn", None)  # this process draws nothing: every PNG comes from the other
    with FigurePool(beside=True) as pool:
        process = pool.drawer.process
        pool.submit(confusion_figure, jobs[0])  # drawn while this process goes on
        pngs = pool.pngs(confusion_figure, [*jobs, jobs[1]])[:3]  # the others handed over now; twice is one
        assert pool.jobs == {}
    assert pool.drawer is None and process.returncode == 0  # ended with the pool, at the end of its input
    for png, mine in zip(pngs, here, strict=True):
        (tmp_path / "a.png").write_bytes(png)
        (tmp_path / "b.png").write_bytes(mine)
        assert np.array_equal(imread(tmp_path / "a.png"), imread(tmp_path / "b.png"))
    monkeypatch.undo()
    # Without a drawing process the same list is drawn here (forked processes for four or more).
    assert FigurePool(beside=False).pngs(confusion_figure, jobs[:1]) == [drawn(confusion_figure, jobs[0])]


def test_figures_the_drawing_process_cannot_give_are_drawn_here():
    import numpy as np

    from litlab.callbacks.drawing import FigurePool, drawn

    job = (np.array([[3, 1], [0, 4]]), ["a", "b"], "killed")
    with FigurePool(beside=True) as pool:
        pool.drawer.process.kill()  # gone before it drew anything
        assert pool.pngs(confusion_figure, [job]) == [drawn(confusion_figure, job)]
    with FigurePool(beside=True) as pool:  # a figure it fails to draw fails here the same way, visibly
        bad = (np.array([[1, 2], [3, 4]]), None, "no class names")
        with pytest.raises(TypeError):
            pool.pngs(confusion_figure, [bad])


def test_what_a_figure_prints_does_not_mix_into_the_drawing_process_s_answers():
    import numpy as np

    from litlab.callbacks.drawing import FigurePool, drawn

    job = (np.array([[2, 0], [1, 5]]), ["a", "b"], "after the noise")
    with FigurePool(beside=True) as pool:
        with pytest.raises(AttributeError):  # print draws no figure: it fails there, then here
            pool.pngs(print, [("noise on the drawing process's stdout",)])
        assert pool.pngs(confusion_figure, [job]) == [drawn(confusion_figure, job)]
        assert pool.drawer.alive
