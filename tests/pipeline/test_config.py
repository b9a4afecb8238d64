"""The pipeline config names a bad key or value in one line."""

import pytest

from tomoml.errors import ConfigError
from tomoml.pipeline.config import config_from_dict, load_config


def test_defaults_and_relative_paths(tmp_path):
    (tmp_path / "p.toml").write_text('[input]\ntilts = "t.mrc"\n[reconstruct]\niterations = 7\n')
    cfg = load_config(tmp_path / "p.toml")
    assert cfg.input.tilts == str(tmp_path / "t.mrc")
    assert cfg.reconstruct.iterations == 7 and cfg.reconstruct.method == "sirt"
    assert cfg.output.dir == str(tmp_path / "tomoml-out")


@pytest.mark.parametrize("data, message", [
    ({"input": {"tilts": "a"}, "reconstruct": {"methd": "sirt"}}, r"\[reconstruct\] unknown key 'methd'"),
    ({"input": {"tilts": "a"}, "reconstruct": {"method": "art"}}, r"method = 'art': expected one of"),
    ({"input": {"tilts": "a"}, "reconstruct": {"iterations": "9"}}, r"iterations = '9': expected int"),
    ({"input": {"tilts": "a"}, "denoise": {"epochs": -1}}, "must not be negative"),
    ({"input": {"tilts": "a"}, "bogus": {}}, r"unknown section \[bogus\]"),
    ({"reconstruct": {}}, r"\[input\] tilts is required"),
    ({"input": {"tilts": "a", "even": "e"}}, "give both even and odd"),
])
def test_bad_config_is_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data, source="p.toml")


def test_invalid_toml_names_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[input\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(p)
