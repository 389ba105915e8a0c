"""EMA profiles as keyword arguments, with the names timm, diffusers and EDM2 use."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

__all__ = ["EMA", "Spec"]


def _number(value: float) -> str:
    """A float as emalog reads it back to the same Double (Python's repr round-trips)."""
    return repr(float(value))


@dataclass(frozen=True)
class EMA:
    """An EMA profile for `Logger(ema=...)`, `load_shadow(ema=...)`, `sweep(ema=...)`, `plot(ema=...)`:
    the same profiles as emalog's spec strings (`str(profile)` is one), written with timm's
    keyword names.

    Args:
        decay: the decay β (timm `decay`, diffusers `decay`/`max_value`).
        warmup: the warmup schedule of timm ModelEmaV3 (`use_warmup`), diffusers (`use_ema_warmup`)
            and ema-pytorch: β_n = clamp(1 - (1 + n/warmup_gamma)^(-warmup_power), min_decay, decay).
        warmup_gamma: timm's `warmup_gamma` (diffusers `inv_gamma`), default 1.
        warmup_power: timm's `warmup_power` (diffusers `power`), default 2/3.
        min_decay: timm's `min_decay` (diffusers `min_decay`), default 0.
        update_after_step: diffusers' `update_after_step`; only 0 is supported (start logging at
            that step instead: the schedule counts from the log's first step).
        form: the update's arithmetic: "seed" (emalog's default, `(1-β)·θ + β·s`), "lerp" (torch's
            `lerp_`: timm ModelEmaV3, torch AveragedModel, EDM2, bit for bit), "sub" (diffusers
            EMAModel, TF: `s - (1-β)·(s-θ)`).
        schedule: "constant", "warmup", "tf" or "power" (default: "warmup" when `warmup`, else
            "constant"; "power" wants `sigma_rel` or `gamma`).
        sigma_rel, gamma: EDM2's power-function EMA (`schedule="power"`).
        per: "update" (default) or "step" (constant decay applied per logged step gap).
        name: the track's name in the log (default: emalog's, e.g. "ema-0.999").

    Examples:
        >>> str(EMA(decay=0.9998, warmup=True, form="lerp"))  # timm ModelEmaV3(decay=0.9998, use_warmup=True)
        'decay=0.9998,schedule=warmup,gamma=1.0,power=0.6666666666666666,min=0.0,form=lerp'
        >>> str(EMA(0.999))
        '0.999'
        >>> str(EMA.power(sigma_rel=0.05, name="p05"))
        'name=p05,schedule=power,sigma_rel=0.05'
    """

    decay: Optional[float] = None
    warmup: bool = False
    warmup_gamma: float = 1.0
    warmup_power: float = 2 / 3
    min_decay: float = 0.0
    update_after_step: int = 0
    form: Optional[str] = None
    schedule: Optional[str] = None
    sigma_rel: Optional[float] = None
    gamma: Optional[float] = None
    per: Optional[str] = None
    name: Optional[str] = None

    def __post_init__(self) -> None:
        if self.update_after_step != 0:
            raise ValueError(f"update_after_step={self.update_after_step}: emalog's schedules count from the log's first "
                             "step, so start logging at that step instead (update_after_step=0)")
        if self.form not in (None, "seed", "lerp", "sub"):
            raise ValueError(f"form is 'seed', 'lerp' or 'sub', not {self.form!r}")
        if self.per not in (None, "update", "step"):
            raise ValueError(f"per is 'update' or 'step', not {self.per!r}")
        schedule = self._schedule()
        if schedule not in ("constant", "warmup", "tf", "power"):
            raise ValueError(f"schedule is 'constant', 'warmup', 'tf' or 'power', not {schedule!r}")
        if schedule == "power":
            if (self.sigma_rel is None) == (self.gamma is None):
                raise ValueError("a power-function EMA takes sigma_rel or gamma (one of them)")
            if self.decay is not None or self.warmup:
                raise ValueError("a power-function EMA has no decay or warmup: its decay follows sigma_rel or gamma")
        elif self.sigma_rel is not None or self.gamma is not None:
            raise ValueError("sigma_rel and gamma belong to schedule='power' (EMA.power(...)); warmup takes warmup_gamma")
        elif self.decay is None:
            raise ValueError("an EMA needs a decay (e.g. EMA(decay=0.999)), or schedule='power' with sigma_rel")
        if self.name is not None and any(c in self.name for c in ",="):
            raise ValueError(f"a track's name has no ',' or '=': {self.name!r}")

    @classmethod
    def power(cls, sigma_rel: Optional[float] = None, gamma: Optional[float] = None, form: Optional[str] = None,
              name: Optional[str] = None) -> "EMA":
        """EDM2's power-function EMA, by its relative width `sigma_rel` or its exponent `gamma`."""
        return cls(schedule="power", sigma_rel=sigma_rel, gamma=gamma, form=form, name=name)

    def _schedule(self) -> str:
        return self.schedule or ("warmup" if self.warmup else "constant")

    def spec(self) -> str:
        """The profile as an emalog spec string (what `--ema` takes)."""
        schedule = self._schedule()
        if schedule == "constant" and self.form is None and self.per is None and self.name is None:
            return _number(self.decay)  # the short form: a track named ema-<decay>
        parts = [f"name={self.name}"] if self.name is not None else []
        if schedule != "power":
            parts.append(f"decay={_number(self.decay)}")
        if schedule != "constant":
            parts.append(f"schedule={schedule}")
        if schedule == "warmup":
            parts += [f"gamma={_number(self.warmup_gamma)}", f"power={_number(self.warmup_power)}", f"min={_number(self.min_decay)}"]
        if schedule == "power":
            parts.append(f"sigma_rel={_number(self.sigma_rel)}" if self.sigma_rel is not None else f"gamma={_number(self.gamma)}")
        if self.per is not None:
            parts.append(f"per={self.per}")
        if self.form is not None:
            parts.append(f"form={self.form}")
        return ",".join(parts)

    def __str__(self) -> str:
        return self.spec()


#: What every `ema=` argument takes: a spec string ("0.999", "name=slow,decay=0.9999,..."), a
#: track's name, or an `EMA`.
Spec = Union[str, EMA]


def spec_text(spec: Union[Spec, float]) -> str:
    """`spec` as the CLI takes it (a number is a constant decay)."""
    if isinstance(spec, EMA):
        return spec.spec()
    if isinstance(spec, str):
        return spec
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return _number(spec)
    raise TypeError(f"an EMA is a spec string, a track's name, a decay or emalog.EMA(...), not {type(spec).__name__}")


def spec_texts(ema: Union[Spec, float, Sequence[Union[Spec, float]]]) -> List[str]:
    """One profile or several, as the CLI takes them."""
    if isinstance(ema, (str, EMA, numbers.Real)):
        return [spec_text(ema)]
    return [spec_text(spec) for spec in ema]
