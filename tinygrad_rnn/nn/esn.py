"""Echo state network (Jaeger 2001; Jaeger & Haas 2004): a fixed random reservoir, a trained readout.

    x(t) = (1 - a) x(t-1) + a tanh(W_in u(t) + b + W x(t-1) + W_fb y(t-1) [+ ν(t)])
    y(t) = W_out [x(t); u(t)] + b_out

W is sparse, random and scaled to the requested spectral radius, so that the reservoir forgets its
initial state (the echo state property, for radius < 1 and no input, roughly); W_in, b and W_fb are
uniform in ±scaling. Only the readout learns: `fit` solves it by ridge regression in closed form on
the states of a teacher-forced run after a washout; or train `readout` (an nn.Linear) with an
optimiser through `forward`. With output feedback, training feeds back the teacher's y(t-1) and
`generate` feeds back the network's own output (free run). The reservoir update over a sequence is one
numba kernel call (kernels/esn.py); the reservoir weights are buffers, saved in state_dict, never
trained. Named EchoStateNetwork, not ESN, so that it reads like the other layers' full names.
"""
import numbers

import numpy as np

from ..kernels.esn import reservoir_generate, reservoir_states
from ..random import generator
from ..tensor import Tensor
from .. import autograd, ops
from .layers import Linear
from .module import Module, float_dtype


def _int(value, name, low):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"EchoStateNetwork: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _real(value, name, ok, expected):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
        raise ValueError(f"EchoStateNetwork: {name} must be {expected}, got {value!r}")
    return float(value)


def _array(value):
    return value.detach().numpy() if isinstance(value, Tensor) else np.asarray(value)


class EchoStateNetwork(Module):
    """Leaky-integrator echo state network with a linear readout; sequences are (T, B, features),
    arrays or Tensors, converted to the network's dtype (float64 is what Mackey-Glass accuracy needs)."""

    def __init__(self, input_size, reservoir_size, output_size, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, bias_scaling=0.0, sparsity=0.9, feedback_scaling=0.0, state_noise=0.0,
                 ridge=1e-8, washout=100, dtype=None):
        super().__init__()
        self.input_size = _int(input_size, "input_size", 0)
        self.reservoir_size = _int(reservoir_size, "reservoir_size", 1)
        self.output_size = _int(output_size, "output_size", 1)
        self.spectral_radius = _real(spectral_radius, "spectral_radius", lambda v: v > 0, "> 0")
        self.leak_rate = _real(leak_rate, "leak_rate", lambda v: 0 < v <= 1, "in (0, 1]")
        nonneg = lambda v: v >= 0  # noqa: E731
        self.input_scaling = _real(input_scaling, "input_scaling", nonneg, ">= 0")
        self.bias_scaling = _real(bias_scaling, "bias_scaling", nonneg, ">= 0")
        self.sparsity = _real(sparsity, "sparsity", lambda v: 0 <= v < 1, "in [0, 1)")
        self.feedback_scaling = _real(feedback_scaling, "feedback_scaling", nonneg, ">= 0")
        self.state_noise = _real(state_noise, "state_noise", nonneg, ">= 0")
        self.ridge = _real(ridge, "ridge", nonneg, ">= 0")
        self.washout = _int(washout, "washout", 0)
        dt = float_dtype(dtype, "EchoStateNetwork")
        rng = generator()
        N, I, O = self.reservoir_size, self.input_size, self.output_size
        self.register_buffer("weight_in", Tensor(rng.uniform(-1, 1, (N, I)).astype(dt) * dt.type(self.input_scaling)))
        self.register_buffer("bias_in", Tensor(rng.uniform(-1, 1, N).astype(dt) * dt.type(self.bias_scaling)))
        self.register_buffer("weight_res", Tensor(self._reservoir_matrix(rng).astype(dt)))
        fb = rng.uniform(-1, 1, (N, O)) * self.feedback_scaling if self.feedback_scaling > 0 else np.zeros((N, 0))
        self.register_buffer("weight_fb", Tensor(fb.astype(dt)))
        self.readout = Linear(N + I, O, dtype=dt)
        with autograd.no_grad():
            self.readout.weight.zero_()
            self.readout.bias.zero_()

    def _reservoir_matrix(self, rng):
        """Uniform ±1 weights, each kept with probability 1 - sparsity, scaled to the spectral radius."""
        N = self.reservoir_size
        w = rng.uniform(-1, 1, (N, N)) * (rng.random((N, N)) >= self.sparsity)
        radius = np.max(np.abs(np.linalg.eigvals(w)))
        if not radius > 1e-12:
            raise ValueError(f"EchoStateNetwork: the random reservoir has spectral radius 0 (sparsity "
                             f"{self.sparsity} leaves too few weights among {N}x{N}); lower sparsity")
        return w * (self.spectral_radius / radius)

    @property
    def has_feedback(self):
        return self.feedback_scaling > 0

    # --- checking and running ---------------------------------------------------------------------
    def _sequence(self, value, size, name):
        arr = _array(value)
        if arr.ndim != 3 or arr.shape[2] != size:
            raise ValueError(f"EchoStateNetwork: expected {name} of shape (T, B, {size}), got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=self.weight_res.dtype)

    def _state(self, state, B, name="state"):
        N = self.reservoir_size
        if state is None:
            return np.zeros((B, N), self.weight_res.dtype)
        arr = _array(state)
        if arr.shape != (B, N):
            raise ValueError(f"EchoStateNetwork: expected {name} of shape ({B}, {N}), got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=self.weight_res.dtype)

    def _drive(self, u, noise):
        """W_in u(t) + b for all steps at once (plus uniform state noise when training)."""
        w_in, b = self.weight_in.numpy(), self.bias_in.numpy()
        T, B, _ = u.shape
        drive = (u.reshape(T * B, -1) @ w_in.T).reshape(T, B, -1) + b
        if noise and self.state_noise > 0:
            drive += generator().uniform(-self.state_noise, self.state_noise, drive.shape).astype(drive.dtype)
        return np.ascontiguousarray(drive, dtype=w_in.dtype)

    def _teacher_forced(self, input, teacher, state, last_output, noise):
        u = self._sequence(input, self.input_size, "input")
        T, B, _ = u.shape
        x0 = self._state(state, B)
        O = self.weight_fb.shape[1]
        feedback = np.zeros((T, B, O), u.dtype)
        if self.has_feedback:
            if teacher is None:
                raise ValueError("EchoStateNetwork: with output feedback, forward and fit need teacher (the "
                                 "targets fed back during training); use generate() for a free run")
            y = self._sequence(teacher, self.output_size, "teacher")
            if y.shape[:2] != (T, B):
                raise ValueError(f"EchoStateNetwork: teacher has shape {y.shape}, expected ({T}, {B}, {O})")
            feedback[1:] = y[:-1]
            if last_output is not None:
                feedback[0] = self._state_like(last_output, (B, O), "last_output")
        states = np.empty((T, B, self.reservoir_size), u.dtype)
        reservoir_states(self._drive(u, noise), np.ascontiguousarray(self.weight_res.numpy().T), feedback,
                         np.ascontiguousarray(self.weight_fb.numpy().T), x0, self.leak_rate, states)
        return u, states

    def _state_like(self, value, shape, name):
        arr = _array(value)
        if arr.shape != shape:
            raise ValueError(f"EchoStateNetwork: expected {name} of shape {shape}, got shape {arr.shape}")
        return arr

    def reservoir(self, input, teacher=None, state=None, last_output=None):
        """The reservoir states x(1..T) (T, B, N) as a Tensor, teacher forced when there is feedback.

        state: x(0) (B, N), zeros by default; last_output: y(0) fed back at the first step (zeros).
        """
        return Tensor(self._teacher_forced(input, teacher, state, last_output, noise=False)[1])

    def forward(self, input, state=None, teacher=None, last_output=None):
        """(outputs (T, B, O), final state (B, N)); differentiable in the readout's parameters only."""
        u, states = self._teacher_forced(input, teacher, state, last_output, noise=False)
        features = ops.cat([Tensor(states), Tensor(u)], dim=-1)
        return self.readout(features), Tensor(states[-1].copy())

    # --- training the readout in closed form ------------------------------------------------------
    def fit(self, input, target, state=None, washout=None, ridge=None, last_output=None):
        """Set the readout by ridge regression on teacher-forced states; returns the final state (B, N).

        Minimises Σ_t>washout ‖y(t) - W_out [x(t); u(t)] - b_out‖² + ridge ‖W_out‖² (b_out unpenalised)
        over all batch rows, solved as one least-squares problem in float64. The final state and
        target[-1] are what `generate` continues from.
        """
        washout = self.washout if washout is None else _int(washout, "washout", 0)
        ridge = self.ridge if ridge is None else _real(ridge, "ridge", lambda v: v >= 0, ">= 0")
        y = self._sequence(target, self.output_size, "target")
        u = self._sequence(input, self.input_size, "input")
        if y.shape[:2] != u.shape[:2]:
            raise ValueError(f"EchoStateNetwork: target has shape {y.shape}, expected {u.shape[:2] + y.shape[2:]}")
        if washout >= u.shape[0]:
            raise ValueError(f"EchoStateNetwork: washout ({washout}) must be smaller than the sequence length "
                             f"({u.shape[0]})")
        u, states = self._teacher_forced(u, y, state, last_output, noise=True)
        features = np.concatenate([states, u], axis=-1)[washout:].reshape(-1, self.readout.in_features)
        w, b = ridge_readout(features, y[washout:].reshape(-1, self.output_size), ridge)
        with autograd.no_grad():
            self.readout.weight.copy_(w)
            self.readout.bias.copy_(b)
        return Tensor(states[-1].copy())

    # --- free run ---------------------------------------------------------------------------------
    def generate(self, input=None, steps=None, state=None, last_output=None):
        """Run free for `steps` (or len(input)) steps, feeding back the network's own outputs.

        input (T, B, I) is required when input_size > 0; otherwise give steps (and B comes from
        state, default 1). Returns (outputs (T, B, O), final state (B, N)); not differentiable.
        """
        if input is None:
            if self.input_size > 0:
                raise ValueError(f"EchoStateNetwork.generate: input of shape (T, B, {self.input_size}) is needed")
            steps = _int(steps, "steps", 1)
            B = 1 if state is None else _array(state).shape[0]
            input = np.zeros((steps, B, 0), self.weight_res.dtype)
        u = self._sequence(input, self.input_size, "input")
        T, B, _ = u.shape
        x0 = self._state(state, B)
        O = self.output_size
        y0 = np.zeros((B, O), u.dtype) if last_output is None else self._state_like(last_output, (B, O), "last_output")
        w = self.readout.weight.detach().numpy()
        N = self.reservoir_size
        readout_drive = np.ascontiguousarray((u.reshape(T * B, -1) @ w[:, N:].T).reshape(T, B, O)
                                             + self.readout.bias.detach().numpy())
        states = np.empty((T, B, N), u.dtype)
        outputs = np.empty((T, B, O), u.dtype)
        reservoir_generate(self._drive(u, False), np.ascontiguousarray(self.weight_res.numpy().T),
                           np.ascontiguousarray(self.weight_fb.numpy().T), np.ascontiguousarray(w[:, :N].T),
                           readout_drive, x0, np.ascontiguousarray(y0, dtype=u.dtype), self.leak_rate, states,
                           outputs)
        return Tensor(outputs), Tensor(states[-1].copy())

    def extra_repr(self):
        return (f"{self.input_size}, {self.reservoir_size}, {self.output_size}, spectral_radius="
                f"{self.spectral_radius}, leak_rate={self.leak_rate}, sparsity={self.sparsity}, "
                f"feedback_scaling={self.feedback_scaling}")


def ridge_readout(features, targets, ridge):
    """(W (O, F), b (O,)) minimising ‖targets - features Wᵀ - b‖² + ridge ‖W‖², by least squares on the
    augmented system [Φ 1; √ridge I 0] [Wᵀ; b] = [Y; 0] (better conditioned than the normal equations)."""
    phi = np.asarray(features, np.float64)
    y = np.asarray(targets, np.float64)
    M, F = phi.shape
    a = np.zeros((M + F, F + 1))
    a[:M, :F] = phi
    a[:M, F] = 1.0
    a[M:, :F] = np.sqrt(ridge) * np.eye(F)
    rhs = np.zeros((M + F, y.shape[1]))
    rhs[:M] = y
    solution = np.linalg.lstsq(a, rhs, rcond=None)[0]
    return solution[:F].T, solution[F]
