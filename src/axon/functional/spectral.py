"""Spectral transforms: `fft1d` and `stft`, pure jax on arrays, one tape op on Variables.

Both are differentiable end to end (with respect to the signal, and to the window when it is a
Variable). The real output is the magnitude |X|; its gradient at X = 0 is 0 (jax's and PyTorch's
convention for |z| at 0, the subgradient of smallest norm), never NaN. `return_complex=True`
gives the complex transform instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable

WINDOWS = ("hann", "hamming", "blackman", "bartlett", "rectangular")
PAD_MODES = ("reflect", "constant", "replicate", "circular")
_JNP_PAD = {"reflect": "reflect", "constant": "constant", "replicate": "edge", "circular": "wrap"}


def _positive_int(where, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _errors.value_error(where, f"{name} must be a positive int, got {value!r}.")
    return value


def window_array(name: str, length: int, dtype=jnp.float32, *, where="axon.functional.stft"):
    """A periodic window of `length` samples, as `torch.<name>_window(length)` builds it.

    `hann`: 0.5 − 0.5·cos(2πn/L); `hamming`: 0.54 − 0.46·cos(2πn/L); `blackman`:
    0.42 − 0.5·cos(2πn/L) + 0.08·cos(4πn/L); `bartlett`: 1 − |2n/L − 1|; `rectangular`: ones.
    A window of one sample is [1.], as in PyTorch.
    """
    if name not in WINDOWS:
        raise _errors.value_error(
            where, f"window must be one of {WINDOWS}, an array or None, got {name!r}."
        )
    length = _positive_int(where, "win_length", length)
    phase = 2.0 * math.pi * np.arange(length) / length
    if length == 1 or name == "rectangular":
        w = np.ones(length)
    elif name == "hann":
        w = 0.5 - 0.5 * np.cos(phase)
    elif name == "hamming":
        w = 0.54 - 0.46 * np.cos(phase)
    elif name == "blackman":
        w = 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    else:  # bartlett
        w = 1.0 - np.abs(2.0 * np.arange(length) / length - 1.0)
    return jnp.asarray(w.astype(jnp.dtype(dtype)))


def _check_signal(where, input) -> tuple[int, ...]:  # noqa: A002
    if not isinstance(input, (Variable, jax.Array)) and not hasattr(input, "__array__"):
        raise _errors.type_error(
            where, f"expected a Variable or array signal, got {type(input).__name__}."
        )
    shape = tuple(input.shape)
    if len(shape) == 0:
        raise _errors.value_error(where, "expected a signal of shape (*, T), got a scalar.")
    if jnp.issubdtype(input.dtype, jnp.complexfloating):
        raise _errors.value_error(
            where, f"expected a real signal, got {input.dtype}.", "Pass the real part."
        )
    return shape


def _magnitude_or_complex(z, return_complex: bool):
    return z if return_complex else jnp.abs(z)  # |z|: gradient 0 at z = 0, never NaN


# ----------------------------------------------------------------------------- FFT
@op(static=("n_fft", "normalized", "return_complex"), name="fft1d")
def _fft1d(input, n_fft, normalized, return_complex):  # noqa: A002
    real = input if jnp.issubdtype(input.dtype, jnp.floating) else input.astype(jnp.float32)
    z = jnp.fft.rfft(real, n=n_fft, axis=-1, norm="ortho" if normalized else "backward")
    return _magnitude_or_complex(z, return_complex)  # (*, n_fft // 2 + 1)


def fft1d(
    input,  # noqa: A002
    n_fft: int,
    normalized: bool = False,
    return_complex: bool = False,
):
    """The one-sided DFT of the last axis, zero-padded or truncated to `n_fft` samples.

    X_k = Σ_n x_n e^(−2πikn/n_fft) for k = 0 … n_fft//2, divided by √n_fft when `normalized`.
    Equals `torch.fft.rfft(x, n=n_fft, norm="ortho" if normalized else "backward")`, and its
    `.abs()` unless `return_complex`.

    Shape:
        - input: (*, T), real
        - output: (*, n_fft // 2 + 1), the magnitude (real) or complex

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.fft1d(jnp.ones((2, 100)), 64).shape
        (2, 33)
    """
    return fft1d_forward("axon.functional.fft1d", input, n_fft, normalized, return_complex)


def fft1d_forward(where, input, n_fft, normalized, return_complex):  # noqa: A002
    """`fft1d` on behalf of `where` (a layer or a function name, named in errors)."""
    _check_signal(where, input)
    n_fft = _positive_int(where, "n_fft", n_fft)
    return _fft1d(input, n_fft, bool(normalized), bool(return_complex))


# ----------------------------------------------------------------------------- STFT
_STFT_STATIC = ("n_fft", "hop_length", "center", "pad_mode", "normalized", "onesided")


@op(static=(*_STFT_STATIC, "return_complex"), name="stft")
def _stft(
    input, window, n_fft, hop_length, center, pad_mode, normalized, onesided, return_complex,
):  # fmt: skip
    x = input if jnp.issubdtype(input.dtype, jnp.floating) else input.astype(jnp.float32)
    if center:
        pad = n_fft // 2
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode=_JNP_PAD[pad_mode])
    frames = 1 + (x.shape[-1] - n_fft) // hop_length
    idx = hop_length * np.arange(frames)[:, None] + np.arange(n_fft)[None, :]  # (frames, n_fft)
    framed = x[..., idx]  # (*, frames, n_fft)
    if window is not None:
        left = (n_fft - window.shape[0]) // 2  # centred, zero-padded to n_fft (as torch.stft)
        w = jnp.pad(window.astype(x.dtype), (left, n_fft - window.shape[0] - left))
        framed = framed * w
    norm = "ortho" if normalized else "backward"
    if onesided:
        z = jnp.fft.rfft(framed, axis=-1, norm=norm)  # (*, frames, n_fft // 2 + 1)
    else:
        z = jnp.fft.fft(framed, axis=-1, norm=norm)  # (*, frames, n_fft)
    z = jnp.swapaxes(z, -1, -2)  # (*, freq, frames), torch's layout
    return _magnitude_or_complex(z, return_complex)


def stft(
    input,  # noqa: A002
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window=None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: bool | None = None,
    return_complex: bool = False,
):
    """Short-time Fourier transform, numerically `torch.stft`.

    The signal is padded by n_fft//2 on both sides (`center`, with `pad_mode`), cut into frames
    of `n_fft` samples every `hop_length`, each multiplied by the window (zero-padded, centred to
    `n_fft`) and transformed: X[f, t] = Σ_n w[n] x[t·hop + n] e^(−2πifn/n_fft), divided by
    √n_fft when `normalized`.

    Args:
        n_fft: frame and FFT size.
        hop_length: frame step, `n_fft // 4` by default.
        win_length: window size (≤ n_fft), `n_fft` by default.
        window: an array of `win_length` samples, a name from `WINDOWS` (a periodic window, as
            `torch.hann_window(win_length)`), or None for a rectangular window (torch's default).
        center: pad the signal so that frame t is centred on sample t·hop_length.
        pad_mode: "reflect", "constant" (zeros), "replicate" or "circular".
        normalized: multiply by n_fft^(-1/2).
        onesided: keep the n_fft//2 + 1 non-negative frequencies (the default for real input).
        return_complex: return the complex STFT; otherwise its magnitude.

    Shape:
        - input: (*, T), real (torch accepts (T,) and (B, T); axon any leading dims)
        - output: (*, n_freq, n_frames), n_freq = n_fft//2 + 1 (onesided) or n_fft,
          n_frames = 1 + (T + 2·(n_fft//2)·center − n_fft) // hop_length

    Note:
        With `return_complex=False` torch returns the real and imaginary parts in a last axis of
        2 (`torch.view_as_real`); axon returns the magnitude |X|, the seed's output. For torch's
        layout, stack `.real` and `.imag` of the complex result on a new last axis.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.stft(jnp.ones((2, 1000)), 256, window="hann").shape
        (2, 129, 16)
    """
    return stft_forward(
        "axon.functional.stft", input, n_fft, hop_length, win_length, window, center, pad_mode,
        normalized, onesided, return_complex,
    )  # fmt: skip


def stft_forward(
    where, input, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided,
    return_complex,
):  # fmt: skip
    """`stft` on behalf of `where` (a layer or a function name, named in errors)."""
    shape = _check_signal(where, input)
    n_fft = _positive_int(where, "n_fft", n_fft)
    hop_length = n_fft // 4 if hop_length is None else hop_length
    hop_length = _positive_int(where, "hop_length", hop_length)
    win_length = n_fft if win_length is None else _positive_int(where, "win_length", win_length)
    if win_length > n_fft:
        raise _errors.value_error(
            where, f"win_length ({win_length}) must not exceed n_fft ({n_fft})."
        )
    if isinstance(window, str):
        dtype = input.dtype if jnp.issubdtype(input.dtype, jnp.floating) else jnp.float32
        window = window_array(window, win_length, dtype, where=where)
    elif window is not None:
        w_shape = tuple(_data(window).shape)
        if w_shape != (win_length,):
            raise _errors.value_error(
                where,
                f"expected a window of shape ({win_length},) (win_length), "
                f"got {_errors.shape_str(w_shape)}.",
            )
    if pad_mode not in PAD_MODES:
        raise _errors.value_error(where, f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}.")
    length = shape[-1]
    if center and pad_mode == "reflect" and n_fft // 2 >= length:
        raise _errors.value_error(
            where,
            f"reflect padding by n_fft // 2 = {n_fft // 2} needs a signal longer than "
            f"{n_fft // 2} samples, got {length}.",
            "Use a smaller n_fft or another pad_mode.",
        )
    padded = length + 2 * (n_fft // 2) if center else length
    if n_fft > padded:
        raise _errors.value_error(
            where,
            f"n_fft ({n_fft}) is larger than the {'padded ' if center else ''}signal "
            f"({padded} samples).",
            "Use a smaller n_fft or a longer signal.",
        )
    onesided = True if onesided is None else bool(onesided)
    return _stft(
        input, window, n_fft, hop_length, bool(center), pad_mode, bool(normalized), onesided,
        bool(return_complex),
    )  # fmt: skip


def _data(x):
    return x.data if isinstance(x, Variable) else x
