"""Learning-rate schedulers with `torch.optim.lr_scheduler`'s semantics, step by step.

A scheduler rewrites `group["lr"]` of its optimizer's param groups each time `step()` is
called, exactly as PyTorch does (the same recursive formulas, evaluated in double precision, so
the learning rates equal PyTorch's to the last bit). The optimizer passes `lr` into its
compiled update as a dynamic argument, so a new learning rate never recompiles the update.

    opt = axon.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = axon.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train(...)                 # opt.step() inside
        sched.step()

Note:
    `step()` runs on the host (Python numbers): call it outside `axon.jit`-compiled steps, as
    above. Inside a compiled step, `group["lr"]` is a traced value that the optimizer uses;
    the schedulers' arithmetic also accepts it, but their counters are Python integers.
"""

from __future__ import annotations

import copy
import math
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import jax

from axon._errors import type_error, value_error
from axon.autograd import Variable
from axon.optim.optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]

_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated "
    "where possible (as in PyTorch). Please use `scheduler.step()` to step the scheduler."
)


def _where(obj) -> str:
    return f"axon.optim.lr_scheduler.{type(obj).__name__}"


def _check_optimizer(scheduler, optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise type_error(
            _where(scheduler),
            f"expected an axon.optim.Optimizer, got {type(optimizer).__module__}."
            f"{type(optimizer).__qualname__}.",
        )
    for i, group in enumerate(optimizer.param_groups):
        if "lr" not in group:
            raise value_error(
                _where(scheduler),
                f"param group {i} of the optimizer has no 'lr'.",
                "An optimizer made by Optimizer.from_optax keeps its learning rate inside the "
                "optax transformation: give it an optax schedule instead.",
            )


def _per_group(scheduler, name: str, optimizer: Optimizer, value) -> list:
    """`value` for every param group: a scalar is repeated, a list must have one per group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise value_error(
                _where(scheduler),
                f"{name} must have one value per param group: got {len(value)} values for {n} "
                f"param groups.",
            )
        return list(value)
    return [value] * n


def _check_positive_int(scheduler, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise value_error(
            _where(scheduler), f"expected {name} to be a positive integer, got {value!r}."
        )


class LRScheduler:
    """Base class of the learning-rate schedulers, as `torch.optim.lr_scheduler.LRScheduler`.

    Constructing a scheduler records each group's starting learning rate as
    `group["initial_lr"]` (unless already there) and performs the initial step, which sets
    `last_epoch` to 0 and each `group["lr"]` to the schedule's first value.

    Args:
        optimizer: the optimizer whose `param_groups[i]["lr"]` the scheduler sets.
        last_epoch: the index of the last epoch when resuming; -1 starts afresh. When resuming,
            every group must already hold `"initial_lr"`.

    Attributes:
        optimizer: the optimizer.
        base_lrs: each group's `initial_lr`.
        last_epoch: the number of `step()` calls since the start (0 after construction).

    A subclass defines `get_lr()` (PyTorch's recursive form, from the groups' current `lr`)
    and optionally `_get_closed_form_lr()` (used by the deprecated `step(epoch)`).
    """

    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise value_error(
                        _where(self),
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        f"resuming with last_epoch={last_epoch}.",
                        "Load the optimizer's state dict first, or start with last_epoch=-1.",
                    )
        self.base_lrs: list[Any] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[Any]:
        """The learning rate of every group for the current `last_epoch` (subclasses)."""
        raise NotImplementedError(f"{_where(self)}: subclasses of LRScheduler define get_lr().")

    def get_last_lr(self) -> list[Any]:
        """The learning rates the last `step()` set, one per param group.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=0.1)
            >>> axon.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5).get_last_lr()
            [0.1]
        """
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one step and set every group's `lr`.

        Args:
            epoch: deprecated (as in PyTorch): jump to this epoch, using the closed form where
                the scheduler has one.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=0.1)
            >>> sched = axon.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
            >>> for _ in range(3):
            ...     sched.step()
            >>> sched.last_epoch, opt.param_groups[0]["lr"]
            (3, 0.05)
        """
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[Any]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as PyTorch (so the two load each other's).

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=0.1)
            >>> sd = axon.optim.lr_scheduler.StepLR(opt, step_size=3).state_dict()
            >>> sd["step_size"], sd["last_epoch"], sd["base_lrs"]
            (3, 0, [0.1])
        """
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "optimizer"})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by `state_dict()` (ours or PyTorch's)."""
        if not isinstance(state_dict, dict):
            raise type_error(
                f"{_where(self)}.load_state_dict",
                f"expected a dict as state_dict() returns, got {type(state_dict).__name__}.",
            )
        self.__dict__.update(copy.deepcopy(state_dict))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply each group's lr by `gamma` every `step_size` steps, as PyTorch's `StepLR`.

    `lr = initial_lr * gamma ** (last_epoch // step_size)`, computed recursively.

    Args:
        optimizer: the optimizer.
        step_size: the period of the decay, in steps.
        gamma: the multiplicative factor.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     sched.step()
        >>> lrs
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check_positive_int(self, "step_size", step_size)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    """Multiply each group's lr by `gamma` at each milestone, as PyTorch's `MultiStepLR`.

    Args:
        optimizer: the optimizer.
        milestones: the steps at which to decay (a repeated milestone decays that many times).
        gamma: the multiplicative factor.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
        >>> for _ in range(3):
        ...     sched.step()
        >>> sched.get_last_lr()
        [0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        milestones = sorted(self.milestones.elements())
        return [
            base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
            for base_lr in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """Multiply each group's lr by `gamma` every step, as PyTorch's `ExponentialLR`.

    Args:
        optimizer: the optimizer.
        gamma: the multiplicative factor.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched.step(); sched.step()
        >>> sched.get_last_lr()
        [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self._is_initial:  # resuming: the initial step must not decay once more
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale each group's lr linearly from `start_factor` to `end_factor` over `total_iters`.

    As PyTorch's `LinearLR`: `lr = initial_lr * (start + (end - start) * min(t, T) / T)`,
    computed recursively.

    Args:
        optimizer: the optimizer.
        start_factor: the factor at step 0, in (0, 1].
        end_factor: the factor from step `total_iters` on, in [0, 1].
        total_iters: the number of steps to reach `end_factor`.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> lrs = [sched.get_last_lr()[0]]
        >>> for _ in range(3):
        ...     sched.step()
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 < start_factor <= 1:
            raise value_error(
                _where(self),
                f"expected 0 < start_factor <= 1, got start_factor={start_factor}.",
            )
        if not 0 <= end_factor <= 1:
            raise value_error(
                _where(self), f"expected 0 <= end_factor <= 1, got end_factor={end_factor}."
            )
        _check_positive_int(self, "total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        factor = 1.0 + (self.end_factor - self.start_factor) / (
            self.total_iters * self.start_factor
            + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
        )
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for base_lr in self.base_lrs
        ]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from each group's initial lr to `eta_min` over `T_max` steps.

    As PyTorch's `CosineAnnealingLR` (SGDR without restarts), in PyTorch's recursive form

        lr_t = eta_min + (lr_{t-1} - eta_min) (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max))

    so that a learning rate changed by hand in between is followed, and the values equal
    PyTorch's step by step. Past `T_max` the schedule climbs back up (a period of `2 T_max`).

    Args:
        optimizer: the optimizer.
        T_max: the number of steps of the half period.
        eta_min: the minimum learning rate.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
        >>> sched.step()
        >>> round(sched.get_last_lr()[0], 6)
        0.5
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check_positive_int(self, "T_max", T_max)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and self.last_epoch > 0:
            return [
                self.eta_min
                + (base_lr - self.eta_min)
                * (1 + math.cos(self.last_epoch * math.pi / self.T_max))
                / 2
                for base_lr in self.base_lrs
            ]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [
                group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                for base_lr, group in zip(self.base_lrs, groups, strict=True)
            ]
        return [
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (group["lr"] - self.eta_min)
            + self.eta_min
            for group in groups
        ]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]

    @classmethod
    def with_eta_min(cls, optimizer: Optimizer, t_max: int, eta_min: float) -> CosineAnnealingLR:
        """The seed's `CosineAnnealingLR::with_eta_min(&opt, t_max, eta_min)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
            >>> axon.optim.lr_scheduler.CosineAnnealingLR.with_eta_min(opt, 10, 0.1).eta_min
            0.1
        """
        return cls(optimizer, t_max, eta_min)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017), as PyTorch's `OneCycleLR`.

    The lr rises from `max_lr / div_factor` to `max_lr` over the first `pct_start` of
    `total_steps`, then anneals to `initial_lr / final_div_factor`; with `three_phase`, it
    first comes back down to `initial_lr` symmetrically and then anneals. Momentum (SGD's,
    RMSprop's `momentum`, or Adam's beta1) cycles inversely between `max_momentum` and
    `base_momentum` when `cycle_momentum`. Step it after every batch; stepping more than
    `total_steps` times is an error.

    Args:
        optimizer: the optimizer.
        max_lr: the peak learning rate, or one per param group.
        total_steps: the number of steps in the cycle; or give `epochs` and `steps_per_epoch`.
        epochs: the number of epochs (with `steps_per_epoch`).
        steps_per_epoch: the number of steps per epoch (with `epochs`).
        pct_start: the fraction of the cycle spent increasing the lr (a float in [0, 1]).
        anneal_strategy: `"cos"` or `"linear"`.
        cycle_momentum: cycle the momentum inversely to the lr.
        base_momentum: the lower momentum, or one per group.
        max_momentum: the upper momentum, or one per group.
        div_factor: `initial_lr = max_lr / div_factor`.
        final_div_factor: `min_lr = initial_lr / final_div_factor`.
        three_phase: use the three-phase schedule (fast.ai's variant).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=0.1, momentum=0.9)
        >>> sched = axon.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
        >>> round(sched.get_last_lr()[0], 12), opt.param_groups[0]["momentum"]
        (0.04, 0.95)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            _check_positive_int(self, "total_steps", total_steps)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            _check_positive_int(self, "epochs", epochs)
            _check_positive_int(self, "steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise value_error(
                _where(self), "you must define either total_steps OR (epochs AND steps_per_epoch)."
            )
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise value_error(
                _where(self), f"expected pct_start to be a float in [0, 1], got {pct_start!r}."
            )
        if anneal_strategy not in ("cos", "linear"):
            raise value_error(
                _where(self),
                f"anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}.",
            )
        self._anneal_func_type = anneal_strategy
        if three_phase:
            self._schedule_phases = [
                self._phase(float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr",
                            "max_momentum", "base_momentum"),
                self._phase(float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                            "base_momentum", "max_momentum"),
                self._phase(self.total_steps - 1, "initial_lr", "min_lr",
                            "max_momentum", "max_momentum"),
            ]  # fmt: skip
        else:
            self._schedule_phases = [
                self._phase(float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr",
                            "max_momentum", "base_momentum"),
                self._phase(self.total_steps - 1, "max_lr", "min_lr",
                            "base_momentum", "max_momentum"),
            ]  # fmt: skip

        max_lrs = _per_group(self, "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, group_max_lr in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = group_max_lr / div_factor
                group["max_lr"] = group_max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise value_error(
                    _where(self),
                    f"optimizer must support momentum or beta1 with `cycle_momentum` option "
                    f"enabled; {type(optimizer).__name__} has neither.",
                    "Pass cycle_momentum=False.",
                )
            self.use_beta1 = "betas" in optimizer.defaults
            max_momenta = _per_group(self, "max_momentum", optimizer, max_momentum)
            base_momenta = _per_group(self, "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for top, base, group in zip(
                    max_momenta, base_momenta, optimizer.param_groups, strict=True
                ):
                    self._set_momentum(group, top)
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum) -> dict[str, Any]:
        return {
            "end_step": end_step,
            "start_lr": start_lr,
            "end_lr": end_lr,
            "start_momentum": start_momentum,
            "end_momentum": end_momentum,
        }

    def _set_momentum(self, group, value) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[Any]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise value_error(
                _where(self),
                f"tried to step {step_num} times. The specified number of total steps is "
                f"{self.total_steps}.",
                "Create the scheduler with more total_steps (or epochs × steps_per_epoch).",
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                self._set_momentum(group, momentum)
        return lrs

    @classmethod
    def with_options(
        cls,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int,
        pct_start: float,
        div_factor: float,
        final_div_factor: float,
    ) -> OneCycleLR:
        """The seed's `OneCycleLR::with_options(&opt, max_lr, total, pct_start, div, final_div)`.

        PyTorch's schedule (cosine warm-up, ending at `initial_lr / final_div_factor`), not the
        seed's linear warm-up.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.Adam([axon.nn.Parameter(jnp.zeros(2))])
            >>> sched = axon.optim.lr_scheduler.OneCycleLR.with_options(opt, 1.0, 100, 0.25,
            ...                                                         10.0, 100.0)
            >>> round(sched.get_last_lr()[0], 12), opt.param_groups[0]["min_lr"]
            (0.1, 0.001)
        """
        return cls(
            optimizer,
            max_lr,
            total_steps,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
        )


class ReduceLROnPlateau(LRScheduler):
    """Reduce each group's lr by `factor` when a metric stops improving, as PyTorch's.

    Call `step(metric)` once per epoch with the validation metric. After more than `patience`
    epochs without an improvement (by more than `threshold`, relative or absolute), every lr
    becomes `max(lr * factor, min_lr)` (a change smaller than `eps` is skipped), and then
    `cooldown` epochs pass before bad epochs count again.

    Args:
        optimizer: the optimizer.
        mode: `"min"` (the metric should decrease) or `"max"`.
        factor: the multiplicative factor, < 1.
        patience: the number of bad epochs tolerated before reducing.
        threshold: what counts as an improvement.
        threshold_mode: `"rel"` (better than `best * (1 ∓ threshold)`) or `"abs"`
            (better than `best ∓ threshold`).
        cooldown: the number of epochs to wait after a reduction.
        min_lr: the lower bound of the lr, or one per param group.
        eps: the smallest reduction that is applied.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
        >>> sched = axon.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        >>> for loss in [1.0, 1.0, 1.0, 1.0]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        if not factor < 1.0:
            raise value_error(_where(self), f"factor should be < 1.0, got {factor}.")
        self.factor = factor
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(self, "min_lr", optimizer, min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise value_error(_where(self), f"mode must be 'min' or 'max', got {mode!r}.")
        if threshold_mode not in ("rel", "abs"):
            raise value_error(
                _where(self), f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}."
            )
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric and reduce the learning rates if it has plateaued.

        Args:
            metrics: the metric (a Python number, a 0-d array, or a Variable). It must be
                concrete: call this outside `axon.jit`, with the loss the compiled step
                returned.
            epoch: deprecated (as in PyTorch).
        """
        if isinstance(metrics, Variable):
            metrics = metrics.data
        if isinstance(metrics, jax.core.Tracer):
            raise type_error(
                f"{_where(self)}.step",
                "the metric is a traced value; the plateau test needs a concrete number.",
                "Call scheduler.step(loss) outside the compiled function, with the value it "
                "returned.",
            )
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch

        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def step_with_metric(self, metric) -> None:
        """The seed's `step_with_metric(&mut opt, metric)`: the same as `step(metric)`."""
        self.step(metric)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise value_error(
                    _where(self),
                    f"the optimizer has {len(groups)} param groups, but min_lr was given for "
                    f"{len(self.min_lrs)} (a param group was added since).",
                    "Set scheduler.min_lrs to one value per param group.",
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by `state_dict()` (ours or PyTorch's)."""
        super().load_state_dict(state_dict)
        self._init_is_better(
            mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode
        )

    @classmethod
    def with_options(
        cls,
        optimizer: Optimizer,
        mode: str,
        factor: float,
        patience: int,
        threshold: float,
        cooldown: int,
        min_lr: float,
    ) -> ReduceLROnPlateau:
        """The seed's `ReduceLROnPlateau::with_options(&opt, mode, factor, patience, threshold,
        cooldown, min_lr)` (relative threshold).

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=1.0)
            >>> s = axon.optim.lr_scheduler.ReduceLROnPlateau.with_options(opt, "max", 0.5, 3,
            ...                                                            1e-3, 2, 1e-4)
            >>> s.mode, s.patience, s.cooldown, s.min_lrs
            ('max', 3, 2, [0.0001])
        """
        return cls(
            optimizer,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            cooldown=cooldown,
            min_lr=min_lr,
        )
