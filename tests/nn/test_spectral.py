"""`FFT1d`, `STFT`, `F.fft1d` and `F.stft` vs. `torch.fft.rfft` and `torch.stft`: forward and the
gradient of a real loss, in float32 and float64, including the magnitude's gradient at 0."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, tol, x64

import axon
from axon import functional as F
from axon import nn, optim
from axon.functional.spectral import WINDOWS, window_array

# torch.stft warns when it is asked for its default (rectangular) window, as some cases here do
pytestmark = pytest.mark.filterwarnings("ignore:A window was not provided")


def _tol(dtype):
    # float32: XLA's and pocketfft's FFTs sum in different orders
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else tol(dtype)


def torch_window(name, length, dtype):
    if name is None:
        return None
    if name == "rectangular":
        return torch.ones(length, dtype=dtype)
    return getattr(torch, f"{name}_window")(length, dtype=dtype)


def compare(axon_fn, torch_fn, x, dtype, *, complex_out=False, seed=1):
    """Forward and the gradient of a real loss Σ c·out (Σ a·Re out + b·Im out when complex),
    axon's under one jax.jit (one compile), torch's by autograd."""
    rng = np.random.default_rng(seed)
    with x64(dtype):
        xt = torch.tensor(x, requires_grad=True)
        tout = torch_fn(xt)
        cots = [rng.standard_normal(tuple(tout.shape)).astype(dtype) for _ in range(2)]
        if complex_out:
            loss = (tout.real * torch.tensor(cots[0]) + tout.imag * torch.tensor(cots[1])).sum()
        else:
            loss = (tout * torch.tensor(cots[0])).sum()
        loss.backward()

        @jax.jit
        def run(x, a, b):
            def loss_fn(x):
                out = axon_fn(x)
                value = (out.real * a + out.imag * b) if complex_out else out * a
                return value.sum(), out

            (_, out), grad = jax.value_and_grad(loss_fn, has_aux=True)(x)
            return out, grad

        out, grad = run(jnp.asarray(x), jnp.asarray(cots[0]), jnp.asarray(cots[1]))
        assert_close(out, tout.detach(), dtype, **_tol(dtype))
        assert np.isfinite(np.asarray(grad)).all()
        assert_close(grad, xt.grad, dtype, **_tol(dtype))
    return out


def _params(table):
    """Every case in float64, the first one in float32 too."""
    f64 = [pytest.param(*c[1:], np.float64, id=f"{c[0]}-f64") for c in table]
    return [pytest.param(*table[0][1:], np.float32, id=f"{table[0][0]}-f32")] + f64


# ------------------------------------------------------------------------------------- FFT1d
# (id, n_fft, normalized, return_complex, input shape)
FFT_CASES = [
    ("pad", 16, False, False, (2, 10)),
    ("truncate_normalized", 32, True, False, (40,)),
    ("equal_odd", 15, False, False, (2, 3, 15)),
    ("complex", 16, False, True, (2, 12)),
    ("complex_normalized_truncate", 9, True, True, (3, 20)),
]


@pytest.mark.parametrize("n_fft, normalized, return_complex, shape, dtype", _params(FFT_CASES))
def test_fft1d_matches_torch(n_fft, normalized, return_complex, shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    norm = "ortho" if normalized else "backward"

    def reference(t):
        z = torch.fft.rfft(t, n=n_fft, norm=norm)
        return z if return_complex else z.abs()

    out = compare(
        lambda a: F.fft1d(a, n_fft, normalized, return_complex), reference, x, dtype,
        complex_out=return_complex,
    )  # fmt: skip
    assert out.shape == shape[:-1] + (n_fft // 2 + 1,)
    assert jnp.iscomplexobj(out) == return_complex


def test_magnitude_gradient_is_zero_not_nan_at_zero():
    """|X| has no derivative at X = 0: the gradient there is 0 (torch's choice), never NaN."""
    x = np.random.default_rng(1).standard_normal((3, 32))
    x[1] = 0.0  # every bin of this row is exactly 0
    x[2, 8:] = 0.0  # silent frames in the STFT
    compare(lambda a: F.fft1d(a, 32), lambda t: torch.fft.rfft(t, n=32).abs(), x, np.float64)
    window = torch.hann_window(8, dtype=torch.float64)
    compare(
        lambda a: F.stft(a, 8, 2, window="hann", pad_mode="constant"),
        lambda t: torch.stft(t, 8, 2, window=window, pad_mode="constant", return_complex=True)
        .abs(),
        x, np.float64,
    )  # fmt: skip


# -------------------------------------------------------------------------------------- STFT
# (id, kwargs (window by name), input shape)
STFT_CASES = [
    ("defaults_hann", dict(n_fft=16), (50,)),
    ("hop_win_hamming_constant_normalized",
     dict(n_fft=16, hop_length=3, win_length=10, window="hamming", pad_mode="constant",
          normalized=True), (2, 50)),
    ("no_center_blackman_twosided",
     dict(n_fft=15, hop_length=4, window="blackman", center=False, onesided=False), (2, 50)),
    ("circular_bartlett", dict(n_fft=8, hop_length=2, win_length=7, window="bartlett",
                               pad_mode="circular"), (3, 33)),
    ("replicate_rectangular", dict(n_fft=8, hop_length=5, window=None, pad_mode="replicate"),
     (40,)),
    ("complex", dict(n_fft=16, hop_length=4, return_complex=True), (2, 37)),
]  # fmt: skip


@pytest.mark.parametrize("kwargs, shape, dtype", _params(STFT_CASES))
def test_stft_matches_torch(kwargs, shape, dtype):
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    kwargs = {"window": "hann", **kwargs}
    return_complex = kwargs.pop("return_complex", False)
    name = kwargs.pop("window")
    n_fft = kwargs["n_fft"]
    win = kwargs.get("win_length") or n_fft

    def reference(t):
        z = torch.stft(t, window=torch_window(name, win, t.dtype), return_complex=True, **kwargs)
        return z if return_complex else z.abs()

    layer = nn.STFT(window=name, return_complex=return_complex, **kwargs)
    out = compare(
        lambda a: F.stft(a, window=name, return_complex=return_complex, **kwargs), reference, x,
        dtype, complex_out=return_complex,
    )  # fmt: skip
    assert out.shape == shape[:-1] + (layer.n_freqs(), layer.n_frames(shape[-1]))


def test_stft_any_leading_dims_and_window_array():
    """(B, C, T) works frame by frame like (B·C, T); a window array equals the named one."""
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, 3, 40)).astype(np.float32))

    @jax.jit
    def run(x):
        named = F.stft(x, 16, window="hann")
        flat = F.stft(x.reshape(6, 40), 16, window="hann").reshape(named.shape)
        array = F.stft(x, 16, window=window_array("hann", 16))
        return named, flat, array

    named, flat, array = run(x)
    assert named.shape == (2, 3, 9, 11)
    assert_close(flat, named)
    assert_close(array, named)


@pytest.mark.parametrize("name", WINDOWS)
@pytest.mark.parametrize("length", [1, 8, 11])
def test_windows_match_torch(name, length):
    expected = torch_window(name, length, torch.float64)
    with x64(np.float64):
        assert_close(window_array(name, length, jnp.float64), expected)


# ------------------------------------------------------------------- layers: tape, jit, state
def test_layers_on_variables_match_torch():
    """The layers on Variables: one tape op each; backward() gives torch's gradients."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    xv = axon.Variable(jnp.asarray(x), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    spec, fft = nn.STFT(32, hop_length=8), nn.FFT1d(48, normalized=True)
    out = spec(xv)
    out2 = fft(xv)
    assert isinstance(out, axon.Variable) and out.grad_fn == "stft"
    ref = torch.stft(xt, 32, 8, window=torch.hann_window(32), return_complex=True).abs()
    ref2 = torch.fft.rfft(xt, n=48, norm="ortho").abs()
    assert_close(out, ref.detach(), **_tol(np.float32))
    assert_close(out2, ref2.detach(), **_tol(np.float32))
    (out.sum() + (out2 * 2.0).sum()).backward()
    (ref.sum() + (ref2 * 2.0).sum()).backward()
    assert_close(xv.grad, xt.grad, **_tol(np.float32))


def test_complex_output_on_the_tape():
    """A complex output is a Variable too; its backward(cotangent) is jax.vjp's."""
    x = jnp.asarray(np.random.default_rng(5).standard_normal(40).astype(np.float32))
    xv = axon.Variable(x, requires_grad=True)
    out = nn.STFT(16, return_complex=True)(xv)
    assert out.dtype == jnp.complex64
    cot = jnp.asarray(np.random.default_rng(6).standard_normal(out.shape)) * (1 + 2j)
    cot = cot.astype(jnp.complex64)
    out.backward(cot)
    expected = jax.jit(
        lambda x: jax.vjp(lambda a: F.stft(a, 16, window="hann", return_complex=True), x)[1](cot)[0]
    )(x)
    assert_close(xv.grad, expected, rtol=1e-5, atol=1e-5)


def test_stft_under_axon_jit_jax_jit_and_vmap():
    x = jnp.asarray(np.random.default_rng(7).standard_normal((3, 50)).astype(np.float32))
    spec = nn.STFT(16, hop_length=4)
    eager = spec(x)
    assert isinstance(eager, jax.Array)  # no parameters: on arrays it is plain jax

    @jax.jit
    def run(spec, x):
        return spec(x), jax.vmap(lambda row: spec(row))(x)

    jitted, mapped = run(spec, x)
    assert_close(jitted, eager, **_tol(np.float32))
    assert_close(mapped, eager, **_tol(np.float32))
    fast = axon.jit(lambda m, x: m(x))
    assert_close(fast(spec, x), eager, **_tol(np.float32))
    fast(spec, x * 2)
    assert fast.num_compiles == 1


def test_window_buffer_state_and_dtype():
    spec = nn.STFT(16, win_length=12)
    assert spec.state_dict() == {}  # the window is a non-persistent buffer
    assert spec.window.shape == (12,)
    assert_close(spec.window, torch.hann_window(12))
    assert nn.STFT(16, window=None).window is None
    custom = np.linspace(0.0, 1.0, 16).astype(np.float32)
    assert_close(nn.STFT(16, window=custom).window, custom)
    with x64(np.float64):
        spec.to(jnp.float64)
        assert spec.window.dtype == jnp.float64


def test_training_through_the_stft_reduces_the_loss():
    """Learn a signal whose spectrogram matches a target: gradients flow through |STFT|."""
    rng = np.random.default_rng(8)
    t = np.arange(64)
    target_signal = np.sin(2 * np.pi * 5 * t / 64) + 0.5 * np.sin(2 * np.pi * 12 * t / 64)
    spec = nn.STFT(16, hop_length=8)
    target = spec(jnp.asarray(target_signal.astype(np.float32)))
    signal = nn.Parameter(jnp.asarray(0.1 * rng.standard_normal(64).astype(np.float32)))
    opt = optim.Adam([signal], lr=0.05)

    @axon.jit
    def step(spec, opt, signal, target):
        opt.zero_grad()
        loss = nn.MSELoss()(spec(signal), target)
        loss.backward()
        opt.step()
        return loss

    losses = [float(step(spec, opt, signal, target)) for _ in range(60)]
    assert losses[-1] < 0.2 * losses[0], losses[::10]


def test_repr_and_seed_forms():
    assert repr(nn.FFT1d(64)) == "FFT1d(n_fft=64)"
    assert repr(nn.FFT1d.with_normalization(64, True)) == "FFT1d(n_fft=64, normalized=True)"
    fft = nn.FFT1d.new(64)
    assert (fft.n_fft, fft.normalized, fft.output_bins()) == (64, False, 33)
    assert repr(nn.STFT(256)) == (
        "STFT(n_fft=256, hop_length=64, win_length=256, window=hann, center=True, pad_mode=reflect)"
    )
    spec = nn.STFT.new(256, 128)
    assert (spec.n_fft, spec.hop_length) == (256, 128)
    assert nn.STFT.with_normalization(256, 128, True).normalized
    assert spec.n_frames(1024) == 9  # torch's count, centred
    assert nn.STFT(256, 128, center=False).n_frames(1024) == 7  # the seed's count, uncentred
    assert nn.STFT(16, onesided=False).n_freqs() == 16


# ------------------------------------------------------------------------------------ errors
ERRORS = [
    (
        "n_fft_over_signal",
        lambda: nn.STFT(16, center=False)(jnp.ones(10)),
        r"axon\.nn\.STFT: n_fft \(16\) is larger than the signal \(10 samples\)\. "
        r"Use a smaller n_fft or a longer signal",
        lambda: torch.stft(torch.ones(10), 16, center=False, return_complex=True),
    ),
    (
        "reflect_pad_over_signal",
        lambda: F.stft(jnp.ones(8), 16),
        r"axon\.functional\.stft: reflect padding by n_fft // 2 = 8 needs a signal longer than "
        r"8 samples, got 8",
        lambda: torch.stft(torch.ones(8), 16, return_complex=True),
    ),
    (
        "bad_window_name",
        lambda: nn.STFT(16, window="hanning"),
        r"STFT: window must be one of \('hann', 'hamming', 'blackman', 'bartlett', "
        r"'rectangular'\), an array or None, got 'hanning'",
        None,
    ),
    (
        "bad_window_name_functional",
        lambda: F.stft(jnp.ones(40), 16, window="kaiser"),
        r"axon\.functional\.stft: window must be one of .* got 'kaiser'",
        None,
    ),
    (
        "window_length",
        lambda: nn.STFT(16, win_length=12, window=np.ones(16)),
        r"STFT: expected a window of shape \(12,\) \(win_length\), got \(16,\)",
        lambda: torch.stft(torch.ones(40), 16, win_length=12, window=torch.ones(16),
                           return_complex=True),
    ),
    (
        "window_length_functional",
        lambda: F.stft(jnp.ones(40), 16, window=jnp.ones(10)),
        r"stft: expected a window of shape \(16,\) \(win_length\), got \(10,\)",
        lambda: torch.stft(torch.ones(40), 16, window=torch.ones(10), return_complex=True),
    ),
    (
        "win_length_over_n_fft",
        lambda: nn.STFT(16, win_length=20),
        r"STFT: win_length \(20\) must not exceed n_fft \(16\)",
        lambda: torch.stft(torch.ones(40), 16, win_length=20, return_complex=True),
    ),
    (
        "hop_length",
        lambda: nn.STFT(16, hop_length=0),
        r"STFT: hop_length must be a positive int, got 0",
        lambda: torch.stft(torch.ones(40), 16, hop_length=0, return_complex=True),
    ),
    (
        "default_hop_of_tiny_n_fft",
        lambda: F.stft(jnp.ones(40), 2),
        r"stft: hop_length must be a positive int, got 0",
        lambda: torch.stft(torch.ones(40), 2, return_complex=True),
    ),
    (
        "pad_mode",
        lambda: nn.STFT(16, pad_mode="symmetric"),
        r"STFT: pad_mode must be one of \('reflect', 'constant', 'replicate', 'circular'\), "
        r"got 'symmetric'",
        None,
    ),
    (
        "complex_signal",
        lambda: nn.FFT1d(8)(jnp.ones(8, jnp.complex64)),
        r"FFT1d: expected a real signal, got complex64\. Pass the real part",
        None,
    ),
    ("n_fft", lambda: nn.FFT1d(0), r"FFT1d: n_fft must be a positive int, got 0", None),
    ("n_fft_float", lambda: nn.STFT(16.0), r"STFT: n_fft must be a positive int, got 16\.0",
     None),
    ("scalar", lambda: F.fft1d(jnp.ones(()), 8), r"fft1d: expected a signal of shape \(\*, T\)",
     None),
    ("not_an_array", lambda: nn.STFT(8)([1.0] * 20), r"STFT: expected a Variable or array",
     None),
]  # fmt: skip


@pytest.mark.parametrize("fn, match, torch_fn", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(fn, match, torch_fn):
    with pytest.raises((ValueError, TypeError), match=match):
        fn()
    if torch_fn is not None:  # torch rejects the same call
        with pytest.raises(RuntimeError):
            torch_fn()
