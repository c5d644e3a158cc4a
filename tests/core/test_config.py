from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pytest

from rcml_core.config import (
    check_choice,
    check_flag,
    check_fractions,
    check_range,
    check_text,
    config_from_dict,
    config_to_dict,
    from_preset,
    merge,
    parse_overrides,
)
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


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("n", 0, 1), {"integer": True}, "n must be an integer >= 1, got 0"),
        (("n", 2.5, 1, 4), {"integer": True}, "n must be an integer in [1, 4], got 2.5"),
        (("n", True, 0, 4), {"integer": True}, "n must be an integer in [0, 4], got True"),
        (("x", 0.0, 0.0, None, True), {}, "x must be > 0.0, got 0.0"),
        (("x", 1.0, 0.0, 1.0, False, True), {}, "x must be in [0.0, 1.0), got 1.0"),
        (("x", float("nan"), 0, 1), {}, "x must be a number in [0, 1], got nan"),
        (("x", "0.5", 0, 1), {}, "x must be a number in [0, 1], got '0.5'"),
        (("x", 7, 1, 5), {"note": "a star rating"}, "x must be in [1, 5] (a star rating), got 7"),
    ],
)
def test_check_range_names_the_field_the_kind_and_the_bounds(args, kwargs, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_range(*args, **kwargs)
    assert str(info.value) == message


def test_the_other_checkers_name_the_field_and_what_it_must_be() -> None:
    check_range("n", np.int64(3), 1, integer=True)  # numpy integers are integers
    with pytest.raises(ConfigError, match=r"^m must be one of \('a', 'b'\), got 'c'$"):
        check_choice("m", "c", ("a", "b"))
    with pytest.raises(ConfigError, match="^f must be true or false, got 1$"):
        check_flag("f", 1)
    with pytest.raises(ConfigError, match="^t must be a non-empty string, got ' '$"):
        check_text("t", " ")
    assert check_fractions("s", [0.5, 0.25, 0.25]) == (0.5, 0.25, 0.25)
    with pytest.raises(ConfigError, match=r"^s must be three numbers in \(0, 1\) \(train, val, test\) summing to 1"):
        check_fractions("s", (0.5, 0.5, 0.0))


PRESETS = {"small": {"seed": 1, "model": {"beta": 0.2}}, "big": {"seed": 2}}


def test_a_preset_then_each_layer_on_top_builds_the_config() -> None:
    cfg = from_preset(Outer, PRESETS, "small", {"model": {"mode": "logit"}}, {"seed": 5})
    assert cfg == Outer(seed=5, model=Inner(beta=0.2, mode="logit"))  # the preset's beta kept, later layers win
    with pytest.raises(ConfigError, match=r"^size must be one of \['small', 'big'\], got 'huge'$"):
        from_preset(Outer, PRESETS, "huge", what="size")
    with pytest.raises(ConfigError, match=r"^outer: unknown key\(s\) \['sede'\]"):
        from_preset(Outer, PRESETS, "big", {"sede": 3}, where="outer")
    with pytest.raises(ConfigError, match=r"model.beta must be in \[0.0, 1.0\], got 2.0"):
        from_preset(Outer, PRESETS, "big", {"model": {"beta": 2}})
