"""Learning curves as PNG next to the model: per-objective training losses and evaluation metrics over steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CURVE_FILE = "learning_curve.png"

_PANELS = (
    ("Training loss", ("loss", "loss_bc", "loss_wm")),
    ("Evaluation loss", ("eval_loss", "eval_loss_bc", "eval_loss_wm")),
    ("Rollout reward (RL)", ("reward",)),
    ("Evaluation on environments", ("eval_env_success_rate", "eval_wm_exact_match", "eval_wm_token_accuracy")),
)


def plot_learning_curve(log_history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Draw every known metric found in ``log_history`` (``Trainer.state.log_history``); ``None`` if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for title, keys in _PANELS:
        series = {}
        for key in keys:
            points = [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
            if points:
                series[key] = points
        if series:
            panels.append((title, series))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for key, points in series.items():
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if len(points) < 20 else None, markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
