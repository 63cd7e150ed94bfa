"""Loss curves as plain data for an inline SVG (templates/training/includes/loss_chart.html).

No JavaScript and no CDN: the server maps (step, loss) to pixel coordinates and the template
draws polylines, axes and ticks. Works offline and is easy to test.
"""
import math

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 16, 14, 34


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def history_series(history: list[dict], *, prefix: str = "") -> list[dict]:
    """Train and validation series from a run's history points."""
    train = [(p["step"], p["train_loss"]) for p in history if p.get("train_loss") is not None]
    val = [(p["step"], p["val_loss"]) for p in history if p.get("val_loss") is not None]
    series = []
    if train:
        series.append({"key": f"{prefix}train", "points": train})
    if val:
        series.append({"key": f"{prefix}val", "points": val})
    return series


def loss_chart(series: list[dict], *, width: int = 640, height: int = 260,
               reference: float | None = None) -> dict | None:
    """series: [{"key": "train", "points": [(step, loss), ...]}]; reference: a horizontal line
    (the base model's validation loss). Returns None when there is nothing to draw."""
    points = [(float(x), float(y)) for s in series for x, y in s["points"]
              if y is not None and math.isfinite(float(y))]
    if not points:
        return None
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    if reference is not None and math.isfinite(reference):
        ys.append(reference)
    x_min, x_max = min(xs), max(xs)
    if x_max == x_min:
        x_max = x_min + 1
    y_min, y_max = min(ys), max(ys)
    margin = (y_max - y_min) * 0.08 or 0.5
    y_min, y_max = max(0.0, y_min - margin), y_max + margin
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM

    def px(x):
        return PAD_LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def py(y):
        return PAD_TOP + (1 - (y - y_min) / (y_max - y_min)) * plot_h

    lines = []
    for s in series:
        coords = [(px(float(x)), py(float(y))) for x, y in s["points"] if y is not None and math.isfinite(float(y))]
        if coords:
            lines.append({
                "key": s["key"],
                "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
                "cx": f"{coords[-1][0]:.1f}", "cy": f"{coords[-1][1]:.1f}",
                "single": len(coords) == 1,
            })
    return {
        "width": width, "height": height,
        "left": PAD_LEFT, "right": width - PAD_RIGHT, "top": PAD_TOP, "bottom": height - PAD_BOTTOM,
        "lines": lines,
        "x_ticks": [{"pos": f"{px(t):.1f}", "label": _label(t)} for t in nice_ticks(x_min, x_max, 6)],
        "y_ticks": [{"pos": f"{py(t):.1f}", "label": _label(t)} for t in nice_ticks(y_min, y_max, 5)],
        "reference": f"{py(reference):.1f}" if reference is not None and math.isfinite(reference) else None,
    }
