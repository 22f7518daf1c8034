"""Tests for the notebook helper of notebook 01: the plot of one value per setting."""

import pytest

from course_lib.notebook import plot_sweep


def test_plot_sweep_draws_sorted_points_with_rounded_labels(tmp_path):
    fig = plot_sweep(
        {32: 80.4, 2: 170.6, 8: 118.2},
        xlabel="latent size",
        ylabel="nats per image",
        path=tmp_path / "sweep.png",
    )
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [2, 8, 32]
    assert list(line.get_ydata()) == [170.6, 118.2, 80.4]
    assert [t.get_text() for t in ax.texts] == ["171", "118", "80"]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "8", "32"]
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_plot_sweep_linear_axis_and_bad_input():
    fig = plot_sweep({0: 1.0, 1: 2.0}, xlabel="x", ylabel="y", log_x=False)
    assert fig.axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="empty"):
        plot_sweep({}, xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="positive"):
        plot_sweep({0: 1.0, 1: 2.0}, xlabel="x", ylabel="y")
