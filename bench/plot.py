#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Plots an `irqd bench --json` report.

    plot.py REPORT.json OUTDIR
    plot.py --check          exit 0 when matplotlib can be loaded

Writes, as PNG and SVG, into OUTDIR (created if missing):

    throughput         interrupts/s and handler invocations/s per
                       configuration, each bar with its ratio to the first
    cpu_per_interrupt  CPU ns per interrupt per configuration, with ratios
    latency_cdf        trigger -> handler latency: CDF and tail (1 - CDF),
                       log time axis, p50/p99/p99.9 marked
    per_cpu            interrupts handled per dispatch CPU per configuration

Titles carry the machine's CPU model and kernel and the fire pattern:
absolute figures mean something only next to the machine they came from.

Only matplotlib (Agg) and the standard library. A malformed report is one
line on stderr naming what is wrong, and exit status 1; wrong arguments
exit 2. `irqd bench --plot DIR` runs this script.
"""

import json
import math
import os
import sys

PROG = "plot.py"
PLOTS = ("throughput", "cpu_per_interrupt", "latency_cdf", "per_cpu")

# Debian's python3-matplotlib installs for /usr/bin/python3 only; a python3
# found earlier on PATH (pyenv, a venv) may not see it. irqd runs whatever
# `python3` PATH gives, so fall back to the system interpreter once rather
# than fail a bench run over which python3 came first.
SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_MARK = "IRQD_PLOT_REEXEC"


class ReportError(Exception):
    """What is wrong with the report, as one line."""


def fail(message, status):
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(status)


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        if (
            not os.environ.get(REEXEC_MARK)
            and os.path.exists(SYSTEM_PYTHON)
            and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
        ):
            os.environ[REEXEC_MARK] = "1"
            sys.stdout.flush()
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
        fail(
            f"matplotlib is not installed for {sys.executable} "
            "(accepted: python3 with matplotlib, e.g. Debian's python3-matplotlib)",
            1,
        )
    # Files only, never a window: Agg works with no display.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Fixed SVG element ids: the same report gives the same file.
    plt.rcParams["svg.hashsalt"] = "irqd"
    return plt


# ---------------------------------------------------------------------------
# The report, checked before anything is drawn.


def _number(value, where):
    # bool is an int to Python, but true is no measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ReportError(f"{where} is {json.dumps(value)}, not a finite number")
    if value < 0:
        raise ReportError(f"{where} is {value}, a negative number")
    return value


def _field(obj, key, where, kind):
    if not isinstance(obj, dict):
        raise ReportError(f"{where} is not an object")
    if key not in obj:
        raise ReportError(f"{where}.{key} is missing")
    value = obj[key]
    if kind == "number":
        return _number(value, f"{where}.{key}")
    if kind == "string":
        if not isinstance(value, str):
            raise ReportError(f"{where}.{key} is {json.dumps(value)}, not a string")
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise ReportError(f"{where}.{key} is not an object")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise ReportError(f"{where}.{key} is not an array")
        return value
    raise AssertionError(kind)


def _cdf(points, where):
    out = []
    last_ns, last_fraction = -1.0, 0.0
    for i, p in enumerate(points):
        here = f"{where}[{i}]"
        if not isinstance(p, list) or len(p) != 2:
            raise ReportError(f"{here} is not a [ns, cumulative_fraction] pair")
        ns = _number(p[0], f"{here}[0]")
        fraction = _number(p[1], f"{here}[1]")
        if fraction > 1 + 1e-9:
            raise ReportError(f"{here}[1] is {fraction}, above 1")
        if ns <= last_ns or fraction < last_fraction:
            raise ReportError(f"{here} does not rise: the CDF must be ascending in ns and fraction")
        last_ns, last_fraction = ns, fraction
        out.append((ns, fraction))
    return out


def load_report(path):
    """Returns (machine, runs) with every field the plots use checked."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise ReportError(f"cannot read: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ReportError("the report is not a JSON object")
    machine_obj = _field(doc, "machine", "report", "object")
    machine = {
        "cpu_model": _field(machine_obj, "cpu_model", "machine", "string"),
        "kernel": _field(machine_obj, "kernel", "machine", "string"),
    }
    runs_list = _field(doc, "runs", "report", "array")
    if not runs_list:
        raise ReportError("runs is empty: nothing to plot")
    runs = []
    for i, r in enumerate(runs_list):
        where = f"runs[{i}]"
        if not isinstance(r, dict):
            raise ReportError(f"{where} is not an object")
        # Checked in the report's own field order, so the first problem
        # named is the first one a reader of the file meets.
        run = {"label": _field(r, "reactor", where, "string") + "/" + _field(r, "layout", where, "string")}
        run["pattern"] = _field(r, "pattern", where, "string")
        for key in ("interrupts_per_s", "invocations_per_s", "cpu_ns_per_interrupt"):
            run[key] = _field(r, key, where, "number")
        lat = _field(r, "latency_ns", where, "object")
        for key in ("p50", "p99", "p999"):
            run[key] = _field(lat, key, f"{where}.latency_ns", "number")
        run["cdf"] = _cdf(_field(lat, "cdf", f"{where}.latency_ns", "array"), f"{where}.latency_ns.cdf")
        run["per_cpu"] = []
        for j, c in enumerate(_field(r, "per_cpu", where, "array")):
            cw = f"{where}.per_cpu[{j}]"
            cpu = _field(c, "cpu", cw, "number")
            if cpu != int(cpu):
                raise ReportError(f"{cw}.cpu is {cpu}, not a CPU id")
            run["per_cpu"].append((int(cpu), _field(c, "handled", cw, "number")))
        runs.append(run)
    return machine, runs


# ---------------------------------------------------------------------------
# Drawing.


def si(value):
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def duration(ns):
    for factor, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if ns >= factor:
            return f"{ns / factor:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio_text(value, base):
    return f"{value / base:.2f}x" if base > 0 else "n/a"


def title(machine, runs, what):
    patterns = ", ".join(dict.fromkeys(r["pattern"] for r in runs))
    return f"{what}\n{machine['cpu_model'] or 'unknown CPU'} | {machine['kernel'] or 'unknown kernel'} | pattern {patterns}"


def tick_labels(ax, labels):
    ax.set_xticks(range(len(labels)))
    # Long reactor/layout names overlap once there are more than a few.
    ax.set_xticklabels(labels, rotation=20 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")


def annotate_bars(ax, bars, values, base):
    for bar, value in zip(bars, values):
        ax.annotate(
            f"{si(value)}\n{ratio_text(value, base)}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )


def headroom(ax):
    # Room above the tallest bar for its two-line annotation.
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1.22 if high > 0 else 1)


def plot_throughput(plt, machine, runs):
    fig, ax = plt.subplots(figsize=(min(16, max(7, 1.6 * len(runs) + 3)), 5))
    labels = [r["label"] for r in runs]
    width = 0.38
    for offset, key, name in ((-width / 2, "interrupts_per_s", "interrupts/s"), (width / 2, "invocations_per_s", "handler invocations/s")):
        values = [r[key] for r in runs]
        bars = ax.bar([i + offset for i in range(len(runs))], values, width, label=name)
        annotate_bars(ax, bars, values, values[0])
    tick_labels(ax, labels)
    ax.set_ylabel("per second")
    ax.yaxis.set_major_formatter(lambda v, _pos: si(v))
    headroom(ax)
    ax.legend(loc="upper right")
    ax.set_title(title(machine, runs, "Throughput (ratio to " + labels[0] + ")"), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_cpu(plt, machine, runs):
    fig, ax = plt.subplots(figsize=(min(16, max(7, 1.2 * len(runs) + 3)), 5))
    labels = [r["label"] for r in runs]
    values = [r["cpu_ns_per_interrupt"] for r in runs]
    bars = ax.bar(range(len(runs)), values, 0.6, color="tab:red")
    for bar, value in zip(bars, values):
        ax.annotate(
            f"{value:.0f} ns\n{ratio_text(value, values[0])}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    tick_labels(ax, labels)
    ax.set_ylabel("CPU ns per interrupt (irqd threads; lower is better)")
    headroom(ax)
    ax.set_title(title(machine, runs, "CPU cost per interrupt (ratio to " + labels[0] + ")"), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


MARKS = (("p50", 0.5, "o"), ("p99", 0.99, "s"), ("p999", 0.999, "^"))


def plot_latency(plt, machine, runs):
    fig, (cdf_ax, tail_ax) = plt.subplots(1, 2, figsize=(13, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for i, r in enumerate(runs):
        color = colors[i % len(colors)]
        if not r["cdf"]:
            # No stamped interrupt reached a handler: nothing to draw, but
            # the legend still says so.
            cdf_ax.plot([], [], color=color, label=f"{r['label']} (no samples)")
            continue
        drawn = True
        xs = [p[0] for p in r["cdf"]]
        ys = [p[1] for p in r["cdf"]]
        label = f"{r['label']}  p50 {duration(r['p50'])}, p99 {duration(r['p99'])}, p99.9 {duration(r['p999'])}"
        cdf_ax.plot([xs[0]] + xs, [0.0] + ys, drawstyle="steps-post", color=color, label=label)
        # The tail, 1 - CDF on a log axis, is where p99 and p99.9 differ.
        tail = [(x, 1 - y) for x, y in zip(xs, ys) if 1 - y > 1e-9]
        if tail:
            tail_ax.plot([xs[0]] + [t[0] for t in tail], [1.0] + [t[1] for t in tail], drawstyle="steps-post", color=color)
        for key, fraction, marker in MARKS:
            if r[key] > 0:
                cdf_ax.plot([r[key]], [fraction], marker=marker, color=color, markeredgecolor="black", linestyle="none")
                tail_ax.plot([r[key]], [1 - fraction], marker=marker, color=color, markeredgecolor="black", linestyle="none")
    for key, _fraction, marker in MARKS:
        name = {"p50": "p50", "p99": "p99", "p999": "p99.9"}[key]
        tail_ax.plot([], [], marker=marker, color="gray", markeredgecolor="black", linestyle="none", label=name)
    for ax in (cdf_ax, tail_ax):
        ax.set_xlabel("trigger -> handler start")
        ax.grid(which="both", alpha=0.3)
        if drawn:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(lambda v, _pos: duration(v))
    cdf_ax.set_ylabel("fraction of interrupts at or below")
    cdf_ax.set_ylim(0, 1.02)
    cdf_ax.legend(loc="upper left", fontsize=7)
    tail_ax.set_ylabel("fraction of interrupts above (1 - CDF)")
    if drawn:
        tail_ax.set_yscale("log")
    tail_ax.legend(loc="lower left", fontsize=8)
    cdf_ax.set_title("CDF", fontsize=9)
    tail_ax.set_title("tail", fontsize=9)
    fig.suptitle(title(machine, runs, "Latency, trigger to handler"), fontsize=10)
    fig.tight_layout()
    return fig


def plot_per_cpu(plt, machine, runs):
    cpus = sorted({cpu for r in runs for cpu, _ in r["per_cpu"]})
    # Wide enough to tell the bars apart, capped so that a many-CPU machine
    # still gives a picture a screen can show.
    fig, ax = plt.subplots(figsize=(min(16, max(7, 0.25 * len(cpus) * len(runs) + 3)), 5))
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        handled = dict(r["per_cpu"])
        xs = [k - 0.4 + width * (i + 0.5) for k in range(len(cpus))]
        ax.bar(xs, [handled.get(cpu, 0) for cpu in cpus], width, label=r["label"])
    ax.set_xticks(range(len(cpus)))
    ax.set_xticklabels([f"CPU {cpu}" for cpu in cpus])
    ax.set_ylabel("interrupts handled in the run")
    ax.yaxis.set_major_formatter(lambda v, _pos: si(v))
    ax.legend(fontsize=8)
    ax.set_title(title(machine, runs, "Load per dispatch CPU"), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def main(argv):
    if argv == ["--check"]:
        load_matplotlib()
        return 0
    if len(argv) != 2 or argv[0].startswith("-") or argv[1].startswith("-"):
        fail(f"unexpected arguments {json.dumps(argv)} (accepted: {PROG} REPORT.json OUTDIR, or {PROG} --check)", 2)
    report, outdir = argv
    try:
        machine, runs = load_report(report)
    except ReportError as e:
        fail(f"{report}: {e}", 1)
    plt = load_matplotlib()
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {outdir}: {e.strerror}", 1)
    drawers = (plot_throughput, plot_cpu, plot_latency, plot_per_cpu)
    for name, draw in zip(PLOTS, drawers):
        fig = draw(plt, machine, runs)
        if not fig.get_constrained_layout():
            fig.tight_layout()
        try:
            fig.savefig(os.path.join(outdir, name + ".png"), dpi=120)
            # No date in the SVG either.
            fig.savefig(os.path.join(outdir, name + ".svg"), metadata={"Date": None})
        except OSError as e:
            fail(f"cannot write into {outdir}: {e.strerror}", 1)
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
