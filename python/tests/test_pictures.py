import shutil
import xml.dom.minidom

import numpy as np
import pytest

import emalog


@pytest.fixture
def logged(db):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((16, 4)).astype(np.float32)
    with emalog.Logger(db, ema=["0.9", "name=slow,decay=0.99,schedule=warmup,form=lerp"]) as log:
        for step in range(1, 31):
            w = w + np.float32(0.01) * rng.standard_normal(w.shape).astype(np.float32)
            log.step(step, {"w": w}, metrics={"loss": 1.0 / step, "eval/acc": step / 30})
    return db


def panels(svg):
    doc = xml.dom.minidom.parseString(svg)
    return [g.getAttribute("data-title") for g in doc.getElementsByTagName("g") if g.getAttribute("class") == "panel"]


def test_plot_returns_svg_or_writes_a_file(logged, tmp_path):
    svg = emalog.plot(logged, keys=["loss"], smooth=0.5, log_y=True, steps=(5, None))
    assert panels(svg) == ["loss"]
    other = str(tmp_path / "other.emalog")
    shutil.copyfile(logged, other)
    out = emalog.plot([logged, other], out=tmp_path / "t.svg", tracks=True, ema="0.999", keys="eval/acc")
    titles = panels(open(out, encoding="utf-8").read())
    assert titles[0] == "eval/acc" and len(titles) == 3
    with pytest.raises(emalog.EmalogError, match="twice"):
        emalog.plot([logged, logged], out=tmp_path / "u.svg")


def test_report_is_a_page_and_refusals_raise(logged, tmp_path):
    out = emalog.report(logged, tmp_path / "run.html", audit=False)
    page = open(out, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "slow" in page
    with pytest.raises(emalog.EmalogError, match="nope") as refused:
        emalog.report(logged, tmp_path / "x.html", keys=["nope"])
    assert refused.value.status == 65
    with pytest.raises(emalog.EmalogError, match=".svg"):
        emalog.plot(logged, out=tmp_path / "x.png")
