"""scripts/make_icon_set.py: a labelled PNG folder from an icon theme's SVGs and PNGs."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests import helpers

SCRIPT = os.path.join(helpers.ROOT, "scripts", "make_icon_set.py")
DISC = ('<svg xmlns="http://www.w3.org/2000/svg" width="{n}" height="{n}" viewBox="0 0 10 10">'
        '<circle cx="5" cy="5" r="3" fill="#{colour}"/></svg>')


def have_cairosvg():
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


RASTERISERS = [
    pytest.param("cairosvg", marks=pytest.mark.skipif(
        not have_cairosvg(), reason="cairosvg (a dev dependency) or its cairo library missing")),
    pytest.param("rsvg-convert", marks=pytest.mark.skipif(
        shutil.which("rsvg-convert") is None, reason="rsvg-convert (librsvg2-bin) not installed")),
]


def png(path, size, colour, alpha=255):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.zeros((size, size, 4), np.uint8)
    image[size // 4:3 * size // 4, size // 4:3 * size // 4] = (*colour, alpha)
    Image.fromarray(image, "RGBA").save(path)


def svg(path, colour, n=48):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(DISC.format(n=n, colour=colour))


def write_theme(root):
    """A small theme laid out as Papirus and oxygen are, with every case the script sorts."""
    svg(f"{root}/64x64/apps/red.svg", "ff0000")
    svg(f"{root}/16x16/apps/red.svg", "00ff00", n=16)  # the same icon drawn small: not used
    shutil.copy(f"{root}/64x64/apps/red.svg", f"{root}/64x64/apps/red-copy.svg")
    os.symlink("red.svg", f"{root}/64x64/apps/red-link.svg")
    png(f"{root}/64x64/apps/box.png", 64, (0, 0, 255))
    os.symlink("apps", f"{root}/64x64/categories")  # Papirus' alias: nothing new
    svg(f"{root}/48x48/status/busy.svg", "00ff00")  # vector at another size: rasterised at 64
    png(f"{root}/128x128/devices/big.png", 128, (255, 255, 0))  # a larger bitmap: reduced
    png(f"{root}/32x32/devices/small.png", 32, (0, 255, 255))  # a smaller bitmap: left out
    svg(f"{root}/symbolic/apps/glyph-symbolic.svg", "000000")
    os.makedirs(f"{root}/64x64/places")
    with open(f"{root}/64x64/places/notes.txt", "w") as f:
        f.write("not an icon")


def written(folder):
    return sorted(os.path.relpath(os.path.join(d, n), folder)
                  for d, _, names in os.walk(folder) for n in names)


@pytest.mark.parametrize("rasteriser", RASTERISERS)
def test_a_theme_becomes_one_picture_per_icon_in_class_folders(tmp_path, rasteriser, capsys):
    script = helpers.load_script(SCRIPT)
    write_theme(tmp_path / "theme")
    out = tmp_path / "set"
    report = script.make_set(str(tmp_path / "theme"), 64, str(out), rasteriser=rasteriser)
    assert written(out) == ["apps/box.png", "apps/red.png", "devices/big.png",
                            "status/busy.png"]
    assert report == {"apps": (2, 2), "devices": (1, 1), "status": (1, 1)}
    assert "6 duplicates and 1 icons with only smaller bitmaps left out" in capsys.readouterr().out
    pictures = {name: np.asarray(Image.open(out / name)) for name in written(out)}
    for picture in pictures.values():
        assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
        assert tuple(picture[0, 0]) == (255, 255, 255)  # transparent corner: the white ground
    # The 64-px drawing (red), not the 16-px one (green); the disc's centre is solid.
    assert tuple(pictures["apps/red.png"][32, 32]) == (255, 0, 0)
    assert tuple(pictures["status/busy.png"][32, 32]) == (0, 255, 0)
    assert tuple(pictures["devices/big.png"][32, 32]) == (255, 255, 0)
    assert tuple(pictures["apps/box.png"][32, 32]) == (0, 0, 255)


def test_max_per_class_draws_by_the_seed_and_the_background_is_chosen(tmp_path):
    script = helpers.load_script(SCRIPT)
    for i in range(6):
        png(f"{tmp_path}/theme/base/32x32/places/p{i}.png", 32, (40 * i, 0, 0), alpha=128)
    draws = []
    for seed, name in ((0, "a"), (0, "b"), (1, "c"), (2, "d")):
        script.make_set(str(tmp_path / "theme"), 32, str(tmp_path / name), max_per_class=2,
                        seed=seed, background="000000")
        draws.append(written(tmp_path / name))
    assert all(len(d) == 2 for d in draws) and draws[0] == draws[1]
    assert len({tuple(d) for d in draws}) > 1  # another seed, another draw
    corner = np.asarray(Image.open(tmp_path / "a" / draws[0][0]))[0, 0]
    assert tuple(corner) == (0, 0, 0)


def test_a_theme_laid_out_by_context_then_size_is_read_too(tmp_path):
    """Breeze's THEME/<context>/N/ and THEME/<context>/N@2x/ folders."""
    script = helpers.load_script(SCRIPT)
    theme = tmp_path / "theme"
    png(f"{theme}/apps/64/editor.png", 64, (255, 0, 0))
    png(f"{theme}/apps/32/editor.png", 32, (0, 255, 0))  # the same icon drawn small: not used
    png(f"{theme}/places/32@2x/home.png", 64, (0, 0, 255))  # drawn at 64 for HiDPI
    png(f"{theme}/status/16/tiny.png", 16, (0, 255, 255))  # only smaller: left out
    png(f"{theme}/actions/symbolic/glyph.png", 64, (0, 0, 0))
    report = script.make_set(str(theme), 64, str(tmp_path / "set"))
    assert written(tmp_path / "set") == ["apps/editor.png", "places/home.png"]
    assert report == {"apps": (1, 1), "places": (1, 1)}
    red = np.asarray(Image.open(tmp_path / "set" / "apps" / "editor.png"))
    assert tuple(red[32, 32]) == (255, 0, 0)


def test_no_rasteriser_for_svgs_is_one_line(tmp_path, monkeypatch):
    script = helpers.load_script(SCRIPT)
    write_theme(tmp_path / "theme")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(script.Problem, match="apt-get install librsvg2-bin"):
        script.make_set(str(tmp_path / "theme"), 64, str(tmp_path / "set"),
                        rasteriser="rsvg-convert")
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize("args, words", [
    (["--theme={tmp}/nowhere", "--output={tmp}/set"], ["nowhere", "no such folder"]),
    (["--theme={tmp}", "--output={tmp}/set", "--size=48"], ["--size=48", "32, 64, 128"]),
    (["--theme={tmp}", "--output={tmp}/set"], ["holds no icons"]),
    (["--theme={tmp}", "--output={tmp}", "--size=32"], ["already holds files"]),
    (["--theme={tmp}", "--output={tmp}/set", "--background=white"], ["RRGGBB"]),
    (["--output={tmp}/set", "--size=32"], ["missing --theme"]),
    (["--theme={tmp}/readme.txt", "--output={tmp}/set"], ["is a file, not a folder"]),
])
def test_bad_input_is_one_line(tmp_path, args, words):
    (tmp_path / "readme.txt").write_text("no icons here")
    result = helpers.run_script(SCRIPT, *[a.format(tmp=tmp_path) for a in args])
    helpers.assert_one_line_error(result, *words)
    assert not (tmp_path / "set").exists()
