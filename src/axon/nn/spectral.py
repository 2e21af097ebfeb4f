"""Spectral transforms as layers: `FFT1d` (magnitude spectrum) and `STFT` (spectrogram).

Neither has parameters; both are differentiable with respect to their input, so they can sit
inside a trained model (a learned front end, a spectral loss). The real output is the magnitude,
whose gradient at 0 is 0; `return_complex=True` gives the complex transform.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon import _errors
from axon.functional.spectral import (
    PAD_MODES,
    WINDOWS,
    _positive_int,
    fft1d_forward,
    stft_forward,
    window_array,
)
from axon.nn.module import Module


class FFT1d(Module):
    """The one-sided DFT of the last axis, zero-padded or truncated to `n_fft` samples.

    X_k = Σ_n x_n e^(−2πikn/n_fft), k = 0 … n_fft//2, divided by √n_fft when `normalized`;
    the output is |X| unless `return_complex`. Equals
    `torch.fft.rfft(x, n=n_fft, norm="ortho" if normalized else "backward").abs()`.

    Args:
        n_fft: transform size; the input's last axis is zero-padded or truncated to it.
        normalized: divide by √n_fft (an orthonormal transform).
        return_complex: return the complex spectrum instead of its magnitude.

    Shape:
        - input: (*, T), real (the seed's (B, T) and (B, C, T) included)
        - output: (*, n_fft // 2 + 1)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> nn.FFT1d(64)(jnp.ones((4, 3, 100))).shape
        (4, 3, 33)
    """

    def __init__(self, n_fft: int, normalized: bool = False, return_complex: bool = False):
        super().__init__()
        self.n_fft = _positive_int(self, "n_fft", n_fft)
        self.normalized = bool(normalized)
        self.return_complex = bool(return_complex)

    # the seed's constructors
    @classmethod
    def new(cls, n_fft: int) -> FFT1d:
        return cls(n_fft)

    @classmethod
    def with_normalization(cls, n_fft: int, normalized: bool) -> FFT1d:
        return cls(n_fft, normalized)

    def output_bins(self) -> int:
        """n_fft // 2 + 1, the size of the output's last axis."""
        return self.n_fft // 2 + 1

    def forward(self, input):  # noqa: A002
        with jax.named_scope("axon.nn.FFT1d"):
            return fft1d_forward(self, input, self.n_fft, self.normalized, self.return_complex)

    def extra_repr(self) -> str:
        s = f"n_fft={self.n_fft}"
        if self.normalized:
            s += ", normalized=True"
        if self.return_complex:
            s += ", return_complex=True"
        return s


class STFT(Module):
    """Short-time Fourier transform, numerically `torch.stft` with the same arguments.

    The signal is padded by n_fft//2 on each side (`center`, with `pad_mode`), cut into frames of
    `n_fft` samples every `hop_length`, each frame multiplied by the window (zero-padded and
    centred to `n_fft`) and transformed with the DFT; the output is the magnitude |X| unless
    `return_complex`.

    Args:
        n_fft: frame and FFT size.
        hop_length: frame step (`n_fft // 4` by default, as torch).
        win_length: window size ≤ n_fft (`n_fft` by default).
        window: a name from `axon.functional.spectral.WINDOWS` (a periodic window, as
            `torch.hann_window(win_length)`), an array of `win_length` samples, or None for a
            rectangular window.
        center: pad so that frame t is centred on sample t·hop_length.
        pad_mode: "reflect", "constant", "replicate" or "circular".
        normalized: multiply by n_fft^(-1/2).
        onesided: keep the n_fft//2 + 1 non-negative frequencies; all n_fft when False.
        return_complex: return the complex STFT instead of its magnitude.

    Shape:
        - input: (*, T), real
        - output: (*, n_freq, n_frames), n_freq = n_fft//2 + 1 (or n_fft when not onesided),
          n_frames = `n_frames(T)`

    Attributes:
        window: (win_length,) buffer, not persistent (absent from `state_dict()`), or None.

    Note:
        `torch.stft`'s default window is rectangular (`window=None`); axon's layer defaults to
        `"hann"`, i.e. `torch.stft(x, n_fft, window=torch.hann_window(win_length))`. Its
        `return_complex=False` output is torch's `view_as_real` layout; axon's is the magnitude
        (the seed's spectrogram). The seed's STFT had no centre padding and a symmetric window;
        pass `center=False` for its frame count.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> nn.STFT(256, hop_length=128)(jnp.ones((2, 1024))).shape
        (2, 129, 9)
    """

    def __init__(
        self,
        n_fft: int,
        hop_length: int | None = None,
        win_length: int | None = None,
        window="hann",
        center: bool = True,
        pad_mode: str = "reflect",
        normalized: bool = False,
        onesided: bool = True,
        return_complex: bool = False,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.n_fft = _positive_int(self, "n_fft", n_fft)
        hop = n_fft // 4 if hop_length is None else hop_length
        self.hop_length = _positive_int(self, "hop_length", hop)
        win = n_fft if win_length is None else win_length
        self.win_length = _positive_int(self, "win_length", win)
        if self.win_length > n_fft:
            raise _errors.value_error(
                self, f"win_length ({self.win_length}) must not exceed n_fft ({n_fft})."
            )
        if pad_mode not in PAD_MODES:
            raise _errors.value_error(
                self, f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}."
            )
        if isinstance(window, str):
            self.window_name = window
            array = window_array(window, self.win_length, dtype, where=self)
        elif window is None:
            self.window_name, array = None, None
        else:
            array = jnp.asarray(getattr(window, "data", window), dtype)
            if array.shape != (self.win_length,):
                raise _errors.value_error(
                    self,
                    f"expected a window of shape ({self.win_length},) (win_length), "
                    f"got {_errors.shape_str(array.shape)}.",
                    f"Or pass a name from {WINDOWS}.",
                )
            self.window_name = "custom"
        self.register_buffer("window", array, persistent=False)
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.normalized = bool(normalized)
        self.onesided = bool(onesided)
        self.return_complex = bool(return_complex)

    # the seed's constructors
    @classmethod
    def new(cls, n_fft: int, hop_length: int) -> STFT:
        return cls(n_fft, hop_length)

    @classmethod
    def with_normalization(cls, n_fft: int, hop_length: int, normalized: bool) -> STFT:
        return cls(n_fft, hop_length, normalized=normalized)

    def n_frames(self, length: int) -> int:
        """The number of frames for a signal of `length` samples."""
        padded = length + 2 * (self.n_fft // 2) if self.center else length
        return 1 + (padded - self.n_fft) // self.hop_length

    def n_freqs(self) -> int:
        """The size of the frequency axis: n_fft // 2 + 1 (onesided) or n_fft."""
        return self.n_fft // 2 + 1 if self.onesided else self.n_fft

    def forward(self, input):  # noqa: A002
        with jax.named_scope("axon.nn.STFT"):
            return stft_forward(
                self, input, self.n_fft, self.hop_length, self.win_length, self.window,
                self.center, self.pad_mode, self.normalized, self.onesided, self.return_complex,
            )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}"
        s += f", window={self.window_name}, center={self.center}"
        if self.center:
            s += f", pad_mode={self.pad_mode}"
        if self.normalized:
            s += ", normalized=True"
        if not self.onesided:
            s += ", onesided=False"
        if self.return_complex:
            s += ", return_complex=True"
        return s
