"""What a simulation run measured, as figures (a dict) and PNG plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deconflict.core.simulation import SimulationResult
from deconflict.core.units import FOOT


def metrics(result: SimulationResult) -> dict[str, float | int]:
    """The figures of one run, in SI units (m, s)."""
    losses = result.losses
    done = result.completed
    planned = float(result.route_length[done].sum())
    delay = result.delay if result.finished_at.size else np.zeros(0)
    return {
        "flights_completed": int(done.sum()),
        "mean_airborne": float(result.airborne.mean()) if result.airborne.size else 0.0,
        "airborne_at_end": int(result.airborne[-1]) if result.airborne.size else 0,
        "mean_delay_s": float(delay.mean()) if delay.size else 0.0,
        # completed flights that ended more than 200 ft off their planned final level (a climb held too long)
        "flights_off_final_level": int((np.abs(result.final_level_error[done]) > 200 * FOOT).sum())
        if result.final_level_error.size else 0,
        "conflicts": int(result.conflicts),
        "losses": len(losses),
        "losses_widened_minima": int(result.widened_losses),
        "loss_seconds": result.loss_seconds,
        "min_distance_m": float(losses.min_distance.min()) if len(losses) else None,
        "worst_severity": float(losses.severity.max()) if len(losses) else 0.0,
        "distance_planned_m": planned,
        "extra_distance_m": result.extra_distance,
        "extra_distance_fraction": result.extra_distance / planned if planned else 0.0,
        "simulated_seconds": float(result.time.size * result.settings.step),
        "wall_seconds": result.wall_seconds,
        "speedup": result.speedup,
    }


def write_plots(results: dict[str, SimulationResult], folder: Path, title: str) -> list[Path]:
    """``timeline.png`` (airborne, conflicts, losses over time) and ``map.png`` (tracks and where
    separation was lost) for runs labelled by their keys; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    colours = dict(zip(results, ("tab:red", "tab:blue", "tab:green", "tab:orange")))
    written = []

    figure, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for label, result in results.items():
        minutes = result.time / 60.0
        axes[0].plot(minutes, result.airborne, color=colours[label], label=label)
        axes[1].plot(minutes, result.conflicts_now, color=colours[label], label=label)
        axes[2].plot(minutes, result.losses_now, color=colours[label], label=label)
    for ax, name in zip(axes, ("aircraft airborne", "pairs in conflict", "pairs in loss of separation")):
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("simulated time (min)")
    figure.suptitle(title)
    figure.tight_layout()
    written.append(folder / "timeline.png")
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)

    figure, ax = plt.subplots(figsize=(8, 8))
    for label, result in results.items():
        if result.tracks.size:
            ax.scatter(result.tracks[:, 2], result.tracks[:, 1], s=1, color=colours[label], alpha=0.15,
                       label=f"{label}: tracks")
    for label, result in results.items():
        losses = result.losses
        if len(losses):
            ax.scatter(losses.lon, losses.lat, s=20 + 200 * np.clip(losses.severity, 0, 1), color=colours[label],
                       alpha=0.6, label=f"{label}: {len(losses)} losses of separation")
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"{title}: tracks every 30 s, and where separation was lost (size: severity)", fontsize="medium")
    latitudes = np.concatenate([r.tracks[:, 1] for r in results.values()] + [np.zeros(0)])
    if latitudes.size:
        ax.set_aspect(1.0 / max(np.cos(np.radians(np.median(latitudes))), 0.1))
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    figure.tight_layout()
    written.append(folder / "map.png")
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)
    return written
