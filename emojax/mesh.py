"""Device mesh and shardings: data parallel over one `data` axis, parameters replicated.

The train steps of both stages are `jax.jit` with these NamedShardings (today's form of pjit).
`start` turns `--accelerator=cpu|gpu|tpu` into a JAX platform before first use, starts multi-host
JAX when the environment describes a cluster (TPU pod slices, SLURM, explicit JAX_* variables),
and fails with a clear message when the platform is not present.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
ACCELERATORS = ("cpu", "gpu", "tpu")


def start(accelerator: str | None) -> None:
  """Pins JAX to one platform, joins a multi-host run if the environment describes one, and fails
  with a clear message when the platform is not present. Must run before anything touches a device
  (`jax.distributed.initialize` refuses to run after the backend exists, so the check comes last)."""
  ask_xla_defaults()
  if accelerator is not None:
    if accelerator not in ACCELERATORS:
      raise ValueError(f"--accelerator must be one of {ACCELERATORS}, got {accelerator!r}")
    jax.config.update("jax_platforms", "cuda" if accelerator == "gpu" else accelerator)
  maybe_initialize_distributed()
  if accelerator is None:
    return
  try:
    jax.devices()
  except RuntimeError as err:
    raise SystemExit(f"--accelerator={accelerator}: no {accelerator.upper()} is available to JAX on "
                     f"this machine ({str(err).splitlines()[0]}). Use --accelerator=cpu, or install "
                     f"the jax build for that platform.") from None


# XLA options every launcher asks for before the backend starts; a setting of the same option
# already in XLA_FLAGS wins (e.g. XLA_FLAGS=--xla_gpu_deterministic_ops=false restores XLA's
# default). Each applies to one platform and is ignored on the others.
XLA_DEFAULTS = {
    # Same seed, same results on a GPU too. Without it XLA's GPU backend may pick kernels whose
    # reductions vary from run to run: measured on an H100, one seed of image fine-tuning gave
    # test r .410 and .406 without it, text fine-tuning losses apart by 2.7e-5, and bit-identical
    # runs with it; the cost is 1-25% of fine-tuning's rate and 57% of stage 1's (seconds either
    # way; docs/gpu.md, "Determinism").
    "xla_gpu_deterministic_ops": "true",
    # XLA's CPU code generator prefers 256-bit vectors by default; on a CPU with AVX-512 the full
    # width made the stage-1 step 19% faster on the AMD EPYC (Zen 5) this project is measured on,
    # with the same results for stage 1 and words stage 2 and text fine-tuning's equal but for
    # the last bits (docs/speed.md). Without AVX-512 it changes nothing.
    "xla_cpu_prefer_vector_width": "512",
}


def ask_xla_defaults() -> None:
  """Adds `XLA_DEFAULTS` to XLA_FLAGS, except options XLA_FLAGS already sets. XLA reads XLA_FLAGS
  when the backend starts, so this must run before anything touches a device."""
  flags = os.environ.get("XLA_FLAGS", "")
  missing = [f"--{name}={value}" for name, value in XLA_DEFAULTS.items() if name not in flags]
  os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()


def maybe_initialize_distributed() -> None:
  """Multi-host runs: every host runs the same program; JAX finds its peers from the environment.

  TPU pod slices, SLURM and Open MPI describe the cluster themselves. Anywhere else (several GPU
  hosts, or several processes on one machine) set JAX_COORDINATOR_ADDRESS=host:port (process 0's
  address) plus JAX_NUM_PROCESSES and JAX_PROCESS_ID on every process.
  """
  cluster_vars = ("JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES", "SLURM_JOB_ID",
                  "OMPI_COMM_WORLD_SIZE")
  if not any(os.environ.get(v) for v in cluster_vars) or jax.distributed.is_initialized():
    return
  explicit = {}
  for var, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
    if os.environ.get(var):
      try:
        explicit[arg] = int(os.environ[var])
      except ValueError:
        raise SystemExit(f"{var}={os.environ[var]!r} is not an integer") from None
  if len(explicit) == 1:
    raise SystemExit("set both JAX_NUM_PROCESSES and JAX_PROCESS_ID (or neither, where the "
                     "cluster environment tells JAX)")
  if explicit and not 0 <= explicit["process_id"] < explicit["num_processes"]:
    raise SystemExit(f"JAX_PROCESS_ID={explicit['process_id']} is outside 0..{explicit['num_processes'] - 1}")
  jax.distributed.initialize(**explicit)


def make_mesh(num_devices: int | None = None) -> Mesh:
  devices = jax.devices()
  if num_devices is not None:
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def put_batch(tree, mesh: Mesh):
  """A global batch held in full by every process (numpy) -> arrays sharded over `data`, each
  device taking its rows. jit refuses numpy inputs for shardings that span several processes."""
  sharding = batch_sharding(mesh)
  put = lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda index: np.asarray(x)[index])
  return jax.tree.map(put, tree)


def put_replicated(tree, mesh: Mesh):
  """A full copy of `tree` on every device of the mesh, from host values. Arrays that live on one
  local device (a restored checkpoint) go through the host first: handing them to a global
  sharding directly would be a cross-host transfer, which multi-host CPU and GPU backends refuse."""
  return jax.device_put(jax.device_get(tree), replicated(mesh))


def to_host(tree):
  """Numpy values of (possibly sharded) arrays. On several hosts an array sharded over the mesh
  is gathered from every process first: each process only holds its own devices' shards."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(tree, tiled=True)


def check_batch_divides(batch_size: int, mesh: Mesh) -> None:
  if batch_size % mesh.size:
    raise ValueError(f"batch size {batch_size} is not divisible by the {mesh.size} devices of the "
                     f"mesh; pick a multiple of {mesh.size}")


def is_writer() -> bool:
  """Only process 0 writes logs and results (Orbax coordinates checkpoint writes itself)."""
  return jax.process_index() == 0
