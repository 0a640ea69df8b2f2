"""What every jaxpg figure shares: its own Agg canvas, the user's size, font size and y limits
(``FigureStyle``), count tick labels like ``250k`` and ``1M`` (``eng_format``), dashed reference
lines, and an atomic save in which no label is clipped.

Figures are ``matplotlib.figure.Figure`` objects on their own Agg canvas: pyplot, its global state
and the caller's backend are left alone. ``jaxpg.plotting`` and ``jaxpg.tune_plots`` draw on them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, ScalarFormatter

from jaxpg import rundir
from jaxpg.fileio import atomic_write

__all__ = ["FigureStyle", "eng_format", "save_figure"]

StrPath = rundir.StrPath
MAX_INCHES = 100.0  # a figure side; larger is a typo (e.g. pixels given as inches)
MAX_POINTS = 100.0  # a font size


def _two_numbers(value, name: str, form: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be two numbers {form}, got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"`{name}` must be two finite numbers {form}, got {a:g},{b:g}")
    return a, b


@dataclasses.dataclass(frozen=True)
class FigureStyle:
    """How a figure is laid out, beyond what it shows (``jaxpg plot --size --font-size --ylim``).

    Attributes:
      size: ``(width, height)`` in inches, each in (0, 100] (default: the figure's own).
      font_size: the base font size in points, in (0, 100] (default: matplotlib's, 10); titles,
        labels, ticks and legends scale with it.
      ylim: ``(low, high)`` of every panel's y axis, ``low < high`` (default: fitted to the data).
      dpi: pixels per inch of a raster image (.png), in [10, 1200] (default: 120).

    Raises:
      ValueError: (one line) a value out of range or not a number.
    """

    size: tuple[float, float] | None = None
    font_size: float | None = None
    ylim: tuple[float, float] | None = None
    dpi: float | None = None

    def __post_init__(self):
        if self.size is not None:
            w, h = _two_numbers(self.size, "size", "WIDTH,HEIGHT in inches")
            if not (0 < w <= MAX_INCHES and 0 < h <= MAX_INCHES):
                raise ValueError(f"`size` must be WIDTH,HEIGHT in inches, each above 0 and at most {MAX_INCHES:g}, "
                                 f"got {w:g},{h:g}")
            object.__setattr__(self, "size", (w, h))
        if self.font_size is not None:
            try:
                pt = float(self.font_size)
            except (TypeError, ValueError):
                raise ValueError(f"`font_size` must be a number of points, got {self.font_size!r}") from None
            if not 0 < pt <= MAX_POINTS:
                raise ValueError(f"`font_size` must be a number of points above 0 and at most {MAX_POINTS:g}, "
                                 f"got {pt:g}")
            object.__setattr__(self, "font_size", pt)
        if self.ylim is not None:
            lo, hi = _two_numbers(self.ylim, "ylim", "LOW,HIGH")
            if not lo < hi:
                raise ValueError(f"`ylim` must be LOW,HIGH with LOW < HIGH, got {lo:g},{hi:g}")
            object.__setattr__(self, "ylim", (lo, hi))
        if self.dpi is not None:
            try:
                dpi = float(self.dpi)
            except (TypeError, ValueError):
                raise ValueError(f"`dpi` must be a number of pixels per inch, got {self.dpi!r}") from None
            if not 10 <= dpi <= 1200:
                raise ValueError(f"`dpi` must be a number of pixels per inch from 10 to 1200, got {dpi:g}")
            object.__setattr__(self, "dpi", dpi)

    @contextlib.contextmanager
    def figure(self, default_size: tuple[float, float]) -> Iterator[Figure]:
        """A new figure of ``size`` (else ``default_size``); its texts made inside the block use
        ``font_size`` (``matplotlib.rc_context``, restored after it)."""
        with matplotlib.rc_context({"font.size": self.font_size} if self.font_size else {}):
            yield _figure(self.size or default_size, self.dpi or 120)

    def axes(self, ax, count_x: bool = True) -> None:
        """Applies ``ylim`` and ``font_size`` to ``ax``'s ticks, and ``eng_format`` to its count axes:
        x when ``count_x``, y when it reaches 10,000 (smaller y ticks are plain numbers, never an offset)."""
        if count_x:
            ax.xaxis.set_major_formatter(FuncFormatter(eng_format))
        if self.ylim is not None:
            ax.set_ylim(*self.ylim)
        big = max(abs(v) for v in ax.get_ylim()) >= 1e4
        ax.yaxis.set_major_formatter(FuncFormatter(eng_format) if big else ScalarFormatter(useOffset=False))
        if self.font_size:
            ax.tick_params(labelsize=self.font_size)


_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def eng_format(value: float, pos: int | None = None, digits: int = 4) -> str:
    """A tick label in engineering notation, at most ``digits`` significant digits and no exponent:
    ``0``, ``0.5``, ``250``, ``250k``, ``1M``, ``1.5M``, ``-20k``, ``2G`` (``pos``: matplotlib's tick
    index, unused: this is a ``FuncFormatter`` function)."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    sign, v = "-" if v < 0 else "", abs(v)
    for scale, prefix in _PREFIXES:
        if float(f"{v:.{digits}g}") >= scale:
            return f"{sign}{float(f'{v / scale:.{digits}g}'):g}{prefix}"
    return f"{sign}{float(f'{v:.{digits}g}'):g}"


def _hlines(hlines: Mapping[str, float] | None) -> list[tuple[str, float]]:
    if hlines is None:
        return []
    if not isinstance(hlines, Mapping):
        raise ValueError(f"hlines must be a dict of label -> y value, got {type(hlines).__name__}")
    out = []
    for label, y in hlines.items():
        try:
            value = float(y)
        except (TypeError, ValueError):
            raise ValueError(f"hlines[{label!r}] must be a number, got {y!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"hlines[{label!r}] must be finite, got {y!r}")
        out.append((str(label), value))
    return out


def _draw_hlines(ax, refs: list[tuple[str, float]]) -> None:
    for i, (label, y) in enumerate(refs):
        ax.axhline(y, ls="--", lw=1.2, color=("0.25", "C3", "C2", "C4")[i % 4], label=label, zorder=1)


def _check_format(out_path: StrPath) -> Path:
    """``out_path`` as a Path, after checking matplotlib can write its format."""
    out = Path(out_path)
    supported = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix[1:].lower() not in supported:
        raise ValueError(f"{out}: unsupported image format {out.suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    return out


def _figure(size: tuple[float, float], dpi: float = 120) -> Figure:
    """A Figure on its own Agg canvas (pyplot's global state and backend are not touched)."""
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def clipped(fig: Figure) -> bool:
    """Whether some of ``fig``'s drawing (a label longer than the figure is high, a wide legend...)
    lies outside the figure once laid out."""
    fig.draw_without_rendering()
    box = fig.get_tightbbox()
    w, h = fig.get_size_inches()
    tol = 0.5 / fig.dpi  # half a pixel
    return box.x0 < -tol or box.y0 < -tol or box.x1 > w + tol or box.y1 > h + tol


def _save(fig: Figure, out: Path) -> Path:
    """Renders ``fig`` and writes it to ``out`` atomically (``jaxpg.fileio.atomic_write``): at its
    own size, or, when that would clip something (``clipped``), grown just enough to hold it all
    (``bbox_inches="tight"``)."""
    buf = io.BytesIO()
    tight = {"bbox_inches": "tight", "pad_inches": 0.04} if clipped(fig) else {}
    fig.savefig(buf, format=out.suffix[1:].lower(), **tight)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buf.getvalue())
    except OSError as e:
        raise ValueError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def save_figure(fig: Figure, out_path: StrPath) -> Path:
    """Writes ``fig`` (e.g. ``jaxpg.plotting.learning_curve_figure``'s) to ``out_path``: the format
    from the suffix, the parent directory created, written atomically, nothing clipped.

    Raises:
      ValueError: an unsupported image format, or the file cannot be written.
    """
    return _save(fig, _check_format(out_path))
