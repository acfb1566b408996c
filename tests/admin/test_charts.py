"""The SVG interval chart of experiment results: its geometry, without a browser."""

from __future__ import annotations


def test_interval_chart_geometry() -> None:
    """Zero is always on the axis; a dot lies inside its line; an interval wholly above zero is
    marked better, wholly below worse; a variant without data has no line."""
    from saaskit.admin.charts import interval_chart

    spec = interval_chart(
        [
            ("up", 0.05, 0.12, 0.2),
            ("down", -0.3, -0.2, -0.1),
            ("unsure", -0.05, 0.01, 0.08),
            ("none", None, None, None),
        ]
    )
    label_width, width = spec["label_width"], spec["width"]
    assert label_width <= spec["zero"] <= width
    up, down, unsure, none = spec["rows"]
    for row in (up, down, unsure):
        line = row["line"]
        assert label_width <= line["x1"] <= line["cx"] <= line["x2"] <= width
    assert up["better"] and not up["worse"] and down["worse"] and not unsure["better"] and not unsure["worse"]
    assert down["line"]["x2"] < spec["zero"] < up["line"]["x1"]
    assert none["line"] is None
    assert "0" in [t["label"] for t in spec["ticks"]] and len(spec["ticks"]) >= 3
    assert up["text"] == "+12.0% [+5.0%, +20.0%]"
