"""``adlib app``: finding a lab, injecting parameters, the Voila command (no server here;
tests/browser/ serves the labs for real)."""
import json
from pathlib import Path

import pytest
from conftest import REPO

from adlib import app, cli


def test_lab_by_number_or_name_and_a_clear_error():
    first = app.labs()[0]
    assert app.lab("01").stem == first and app.lab("1").stem == first and app.lab(first).stem == first
    with pytest.raises(ValueError, match=r"unknown lab '99'.*01_gaussian_boundary"):
        app.lab("99")


def test_with_parameters_injects_after_the_parameters_cell(tmp_path):
    out = app.with_parameters("01", {"steps": 123, "eps": 0.05}, tmp_path)
    cells = json.loads(out.read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    i = next(k for k, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[i + 1]
    source = "".join(cells[i + 1]["source"])
    assert "steps = 123" in source and "eps = 0.05" in source
    assert out.parent == tmp_path and not (REPO / "notebooks" / out.name).samefile(out)


def test_with_parameters_names_an_unknown_parameter(tmp_path):
    with pytest.raises(ValueError, match=r"no parameter 'stepz'; its parameters are .*steps"):
        app.with_parameters("01", {"stepz": 3}, tmp_path)


def test_voila_command_binds_loopback(tmp_path):
    cmd = app.voila_command(app.lab("01"), 9999, tmp_path / "conn")
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=9999" in cmd
    assert f"--Voila.connection_dir_root={tmp_path / 'conn'}" in cmd and (tmp_path / "conn").is_dir()
    # the kit's template: Voila's lab template without the CDN stylesheets, found via JUPYTER_PATH
    assert "--template=adlib" in cmd and f"JUPYTER_PATH={app.TEMPLATES}" in cmd[1]
    template = app.TEMPLATES / "voila/templates/adlib/index.html.j2"
    assert "extends 'lab/index.html.j2'" in template.read_text()


def test_cli_app_rejects_an_unknown_lab(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["app", "42"])
    assert err.value.code == 2 and "unknown lab '42'" in capsys.readouterr().err


def test_parse_value():
    assert app.parse_value("500") == 500 and app.parse_value("[1, 2]") == [1, 2]
    assert app.parse_value("1e-3") == 1e-3 and app.parse_value("ring") == "ring"


def test_voila_command_turns_websocket_pings_off_as_a_number():
    """Voila runs a progressive-rendering notebook inside one websocket handler, so the
    browser's pongs go unread and Jupyter Server's ping check would close the page's
    execution socket 90 s into a lab. The setting must reach tornado as the number 0 (the
    string "0", what ``--tornado_settings=key=value`` gives, fails the server's ``> 0``)."""
    from voila.app import Voila

    cmd = app.voila_command(Path("lab.ipynb"), 8866, Path("/tmp/adlib-test-connections"))
    v = Voila()
    v.parse_command_line([a for a in cmd[3:] if a.startswith("--")])
    assert v.tornado_settings.get("ws_ping_interval") == 0
    assert isinstance(v.tornado_settings["ws_ping_interval"], int)
