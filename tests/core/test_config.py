from dataclasses import dataclass, field
from typing import Literal

import pytest

from rcml_core.config import check_range, config_from_dict, config_to_dict, merge, parse_overrides
from rcml_core.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    beta: float = 0.6
    mode: Literal["prob", "logit"] = "prob"

    def __post_init__(self) -> None:
        check_range("model.beta", self.beta, 0.0, 1.0)


@dataclass(frozen=True)
class Outer:
    seed: int = 0
    flag: bool = False
    sizes: tuple[float, float] = (0.5, 0.5)
    out: str | None = None
    model: Inner = field(default_factory=Inner)


def test_round_trip_through_dict() -> None:
    cfg = Outer(seed=3, flag=True, model=Inner(beta=0.2, mode="logit"))
    assert config_from_dict(Outer, config_to_dict(cfg)) == cfg


def test_unknown_key_is_rejected_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"model: unknown key\(s\) \['betta'\]"):
        config_from_dict(Outer, {"model": {"betta": 0.1}})


def test_overrides_parse_yaml_scalars_and_aliases() -> None:
    tree = parse_overrides(["beta=0.4", "flag=true", "seed=7", "out=runs/x"], aliases={"beta": "model.beta"})
    cfg = config_from_dict(Outer, merge(config_to_dict(Outer()), tree))
    assert cfg.model.beta == 0.4 and cfg.flag is True and cfg.seed == 7 and cfg.out == "runs/x"


def test_typed_overrides_keep_their_values_where_yaml_text_would_change_them() -> None:
    assert parse_overrides(["out=null", "beta=0.4"], aliases={"beta": "model.beta"}) == \
        {"out": None, "model": {"beta": 0.4}}  # the YAML reading of `key=value`
    assert parse_overrides([("out", "null"), ("beta", 0.4)], aliases={"beta": "model.beta"}) == \
        {"out": "null", "model": {"beta": 0.4}}  # a (key, value) pair from code, as it is


def test_validation_names_field_and_range() -> None:
    with pytest.raises(ConfigError, match=r"model.beta must be in \[0.0, 1.0\], got 1.5"):
        config_from_dict(Outer, {"model": {"beta": 1.5}})


def test_type_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="seed: expected an integer"):
        config_from_dict(Outer, {"seed": 1.5})
    with pytest.raises(ConfigError, match="model.mode: must be one of"):
        config_from_dict(Outer, {"model": {"mode": "other"}})
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides(["beta"])
