"""LoRA (Hu et al. 2021): low-rank adapters over a params pytree, for any zoo model without touching its code.

    kernel W [in, out] (frozen)  ->  W + (alpha / r) * A [in, r] @ B [r, out]      (trained: A and B only)

Adapters are a flat dict keyed by the adapted kernel's module path, '/'-joined:
`{'layers_3/attention/query': {'a': [in, r], 'b': [r, out]}}` adapts `params['layers_3']['attention']['query']
['kernel']`. Two ways to run them, equal within float rounding:
  merge(params, adapters, config)        a new params tree with W + scale A B (serving; `lora_loss` trains this way)
  with adapted(adapters, config): ...    each matching nn.Dense adds scale (x A) B to its output; params untouched
Save and load: zoo.layers.lora_files. There is no LoRA dropout: it can only act on the unmerged path (on x before
A), and `lora_loss` trains the merged one, which is cheaper for the small batches LoRA is mostly tuned with.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import zlib
from typing import Any, Callable, Iterator, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from zoo.errors import SettingError
from zoo.weights.convert import WeightsMismatchError

Adapters = dict[str, dict[str, jax.Array]]  # module path -> {'a': [in, r], 'b': [r, out]}
KNOWN_TARGETS = ("attention/query", "attention/key", "attention/value", "attention/qkv", "attention/out",
                 "mlp/up", "mlp/gate", "mlp/down")  # zoo.layers' Dense names (Llama, GPT, BERT, ViT, ...)


class LoRAMismatchError(WeightsMismatchError):
    """Adapters that do not fit the params they are applied to (trained on another base model)."""


@dataclasses.dataclass(frozen=True)
class LoRAConfig:
    """Which kernels get adapters and how big. A target matches a 2-D `kernel` whose module path equals it or
    ends with '/' + target: 'attention/query' matches 'layers_3/attention/query' (every layer), 'query' too,
    'layers_0/attention/query' only layer 0, and 'tention/query' nothing (names match whole). A target that
    matches nothing is fine while another one matches, so one config serves Llama (query/value) and GPT (qkv)."""

    rank: int = 8
    alpha: float = 16.0  # the update is scaled by alpha / rank, so changing the rank keeps its size (paper, 4.1)
    targets: tuple[str, ...] = ("attention/query", "attention/value")

    def __post_init__(self):
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        object.__setattr__(self, "targets", targets)
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise SettingError(f"LoRAConfig: rank must be a whole number >= 1 (typically 4-64), got {self.rank!r}")
        if not isinstance(self.alpha, (int, float)) or not math.isfinite(self.alpha) or self.alpha == 0:
            raise SettingError(f"LoRAConfig: alpha must be a finite nonzero number (scale = alpha / rank; "
                               f"commonly 2 * rank), got {self.alpha!r}")
        if not targets or not all(isinstance(t, str) and t.strip("/") == t and t for t in targets):
            raise SettingError(f"LoRAConfig: targets must be module paths without leading or trailing '/', "
                               f"e.g. {KNOWN_TARGETS[:2]}; got {self.targets!r}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def matches(self, module_path: str) -> bool:
        return any(module_path == t or module_path.endswith("/" + t) for t in self.targets)


def kernel_shapes(params: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Module path -> shape of every `kernel` leaf in params (not the {'params': ...} variables)."""
    if "params" in params:
        raise SettingError("LoRA works on the params tree: pass variables['params'], not the variables dict")
    flat = traverse_util.flatten_dict(params)
    return {"/".join(map(str, key[:-1])): tuple(leaf.shape) for key, leaf in flat.items() if key[-1] == "kernel"}


def target_shapes(params: Mapping[str, Any], config: LoRAConfig) -> dict[str, tuple[int, int]]:
    """Module path -> [in, out] of every kernel the config adapts; errors name the fix."""
    shapes = kernel_shapes(params)
    chosen = {path: shape for path, shape in shapes.items() if config.matches(path)}
    if not chosen:
        some = ", ".join(list(shapes)[:8]) or "(none: these params hold no 'kernel')"
        raise SettingError(f"LoRA: no kernel matches the targets {list(config.targets)}; kernels here include "
                           f"{some}. Pass targets that end those paths, e.g. 'attention/qkv' for GPT")
    wrong = {path: shape for path, shape in chosen.items() if len(shape) != 2}
    if wrong:  # nn.scan stacks layers ([L, in, out]); DenseGeneral and conv kernels have more axes
        raise SettingError(f"LoRA adapts 2-D Dense kernels [in, out] only; {dict(list(wrong.items())[:4])} are not. "
                           "Narrow the targets to 2-D kernels (scanned layers need one adapter per layer slice)")
    return chosen


def init_adapters(params: Mapping[str, Any], config: LoRAConfig, key: jax.Array) -> Adapters:
    """Fresh adapters for every target kernel, in its dtype: B = 0, so the model's output is unchanged, and A as
    PEFT draws it (kaiming_uniform_(a=sqrt(5)) on torch's [r, in] weight = U(+-1/sqrt(in))). Each adapter's key
    is folded from its path, so adding a target leaves the other adapters' draws the same."""
    flat = traverse_util.flatten_dict(params, sep="/")
    adapters = {}
    for path, (fan_in, fan_out) in target_shapes(params, config).items():
        dtype = flat[path + "/kernel"].dtype
        bound = 1.0 / math.sqrt(fan_in)
        path_key = jax.random.fold_in(key, zlib.crc32(path.encode()) & 0x7FFFFFFF)
        adapters[path] = {"a": jax.random.uniform(path_key, (fan_in, config.rank), dtype, -bound, bound),
                          "b": jnp.zeros((config.rank, fan_out), dtype)}
    return adapters


def check_adapters(params: Mapping[str, Any], adapters: Adapters) -> None:
    """Raise LoRAMismatchError listing every adapter whose kernel is missing from params or has another shape."""
    shapes = kernel_shapes(params)
    problems = []
    for path, adapter in adapters.items():
        a_shape, b_shape = tuple(adapter["a"].shape), tuple(adapter["b"].shape)
        if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[1] != b_shape[0]:
            problems.append(f"{path}: A {list(a_shape)} and B {list(b_shape)} are not [in, r] and [r, out]")
        elif path not in shapes:
            problems.append(f"{path}: no such kernel in params")
        elif shapes[path] != (a_shape[0], b_shape[1]):
            problems.append(f"{path}: adapter is for a [{a_shape[0]}, {b_shape[1]}] kernel, params have "
                            f"{list(shapes[path])}")
    if problems:
        raise LoRAMismatchError(f"{len(problems)} of {len(adapters)} LoRA adapters do not fit these params (another "
                                "base model?); apply them to the model they were trained on:\n  "
                                + "\n  ".join(problems))


def merge(params: Mapping[str, Any], adapters: Adapters, config: LoRAConfig) -> Any:
    """params with W + scale A B at each adapted kernel (same dtype); every other leaf is the same object."""
    return _add_delta(params, adapters, config.scale)


def unmerge(params: Mapping[str, Any], adapters: Adapters, config: LoRAConfig) -> Any:
    """The inverse of merge (W - scale A B), exact up to float rounding."""
    return _add_delta(params, adapters, -config.scale)


def _add_delta(params, adapters, scale: float):
    check_adapters(params, adapters)
    out = params
    for path, adapter in adapters.items():
        names = (*path.split("/"), "kernel")
        kernel = _get(params, names)
        # The sum in float32 at least, so a bf16 kernel rounds once, not twice.
        wide = jnp.promote_types(kernel.dtype, jnp.float32)
        delta = jnp.matmul(adapter["a"].astype(wide), adapter["b"].astype(wide), precision=jax.lax.Precision.HIGHEST)
        out = _set(out, names, (kernel.astype(wide) + scale * delta).astype(kernel.dtype))
    return out


def _get(tree, names):
    for name in names:
        tree = tree[name]
    return tree


def _set(tree, names, value):
    """A copy of the dicts along `names` with the leaf replaced; siblings are shared, not copied."""
    if not names:
        return value
    copy = dict(tree)
    copy[names[0]] = _set(tree[names[0]], names[1:], value)
    return copy if type(tree) is dict else type(tree)(copy)


def adapter_count(adapters: Adapters) -> int:
    """Trainable scalars: r (in + out) per adapted kernel."""
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(adapters))


def trainable_fraction(params: Mapping[str, Any], adapters: Adapters) -> float:
    """adapter_count / (base params + adapters), PEFT's print_trainable_parameters figure."""
    count = adapter_count(adapters)
    return count / (count + sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(params)))


def lora_loss(loss_fn: Callable[..., jax.Array], base_params: Any, config: LoRAConfig) -> Callable[..., jax.Array]:
    """loss_fn(params, *args) -> loss(adapters, *args) on merge(base_params, adapters): jax.grad and an optax
    state see the adapters only. Inside a jitted step pass base_params as a step argument and build this there:
    arrays a jitted function closes over are baked into its program as constants, the whole base model here."""

    def loss(adapters: Adapters, *args, **kwargs):
        frozen = jax.lax.stop_gradient(base_params)  # no gradient reaches the base, even under an outer grad
        return loss_fn(merge(frozen, adapters, config), *args, **kwargs)

    return loss


@contextlib.contextmanager
def adapted(adapters: Adapters, config: LoRAConfig, *, strict: bool = True) -> Iterator[None]:
    """Inside the block, each nn.Dense whose module path has an adapter returns dense(x) + scale (x A) B, in the
    Dense's compute dtype and precision: `with adapted(adapters, config): model.apply(variables, ids)`.

    Interception happens while tracing, so a jitted apply compiled outside the block would skip it (and one
    compiled inside keeps it): jit a function that enters the block itself. With `strict`, leaving the block
    without every adapter having run raises (that cached-jit case, or kernels that are not nn.Dense)."""
    fired: set[str] = set()

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name != "__call__" or not isinstance(module, nn.Dense):
            return next_fun(*args, **kwargs)
        path = "/".join(map(str, module.path))
        if path not in adapters:
            return next_fun(*args, **kwargs)
        out = next_fun(*args, **kwargs)
        x, a, b = args[0] if args else kwargs["inputs"], adapters[path]["a"], adapters[path]["b"]
        if x.shape[-1] != a.shape[0] or out.shape[-1] != b.shape[-1]:
            raise LoRAMismatchError(f"{path}: adapter is for a [{a.shape[0]}, {b.shape[-1]}] kernel, the Dense maps "
                                    f"{x.shape[-1]} -> {out.shape[-1]}; apply adapters to the model they were "
                                    "trained on")
        # What Dense's promote_dtype picks. (`is None`, not `or`: a numpy dtype is falsy, it has len 0.)
        dtype = jnp.result_type(x.dtype, module.param_dtype) if module.dtype is None else module.dtype
        low = jnp.matmul(x.astype(dtype), a.astype(dtype), precision=module.precision)  # [..., r]
        fired.add(path)
        return out + (config.scale * jnp.matmul(low, b.astype(dtype), precision=module.precision)).astype(out.dtype)

    with nn.intercept_methods(interceptor):
        yield
    missing = sorted(set(adapters) - fired)
    if strict and missing:
        raise SettingError(f"adapted: {len(missing)} adapters never ran ({', '.join(missing[:4])}...). Apply the "
                           "model inside the block, and jit a function that enters `adapted` itself (a jitted "
                           "apply traced outside it is reused unchanged); kernels that are not nn.Dense need "
                           "merge(params, adapters, config); strict=False allows a partial apply")
