"""Device mesh and shardings: data parallel over one `data` axis, parameters replicated.

The train steps of both stages are `jax.jit` with these NamedShardings (today's form of pjit).
`select_platform` turns `--accelerator=cpu|gpu|tpu` into a JAX platform before first use and
fails with a clear message when that platform is not present; `maybe_initialize_distributed`
starts multi-host JAX when the environment describes a cluster (TPU pod slices, SLURM, ...).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
ACCELERATORS = ("cpu", "gpu", "tpu")


def select_platform(accelerator: str | None) -> None:
  """Pins JAX to one platform; must run before anything touches a device."""
  if accelerator is None:
    return
  if accelerator not in ACCELERATORS:
    raise ValueError(f"--accelerator must be one of {ACCELERATORS}, got {accelerator!r}")
  jax.config.update("jax_platforms", "cuda" if accelerator == "gpu" else accelerator)
  try:
    jax.devices()
  except RuntimeError as err:
    raise SystemExit(f"--accelerator={accelerator}: no {accelerator.upper()} is available to JAX on "
                     f"this machine ({str(err).splitlines()[0]}). Use --accelerator=cpu, or install "
                     f"the jax build for that platform.") from None


def maybe_initialize_distributed() -> None:
  """Multi-host runs: every host runs the same program; JAX finds its peers from the environment."""
  cluster_vars = ("JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES", "SLURM_JOB_ID",
                  "OMPI_COMM_WORLD_SIZE")
  if any(os.environ.get(v) for v in cluster_vars) and not jax.distributed.is_initialized():
    jax.distributed.initialize()


def make_mesh(num_devices: int | None = None) -> Mesh:
  devices = jax.devices()
  if num_devices is not None:
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_divides(batch_size: int, mesh: Mesh) -> None:
  if batch_size % mesh.size:
    raise ValueError(f"batch size {batch_size} is not divisible by the {mesh.size} devices of the "
                     f"mesh; pick a multiple of {mesh.size}")


def is_writer() -> bool:
  """Only process 0 writes logs and results (Orbax coordinates checkpoint writes itself)."""
  return jax.process_index() == 0
