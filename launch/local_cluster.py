"""Runs a launcher as several JAX processes on this machine, the way a multi-host job runs it.

  python launch/local_cluster.py --processes=2 --devices-per-process=2 \
      launch/mapping.py --accelerator=cpu --workdir=/tmp/two_hosts steps=200

Every process gets JAX_COORDINATOR_ADDRESS (a free local port), JAX_NUM_PROCESSES and
JAX_PROCESS_ID, the variables `emojax.mesh.maybe_initialize_distributed` reads on hosts that no
cluster manager describes (on several GPU machines, set the same three by hand). The global mesh
then spans every process's devices and the CPU collectives run over Gloo, so this exercises the
multi-host code path — process 0 coordinating, writing logs, results and checkpoints — without a
second machine. `--devices-per-process=k` gives each process k fake CPU devices (the caller's
other XLA_FLAGS are kept). Process 0 prints to this terminal; the others' output is printed after
they finish, each line tagged. If one process fails, the others are stopped (they would otherwise
wait forever in a collective) and this command exits with the failing status.
"""

import argparse
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def wait_all(procs: list[subprocess.Popen], timeout: float | None) -> int:
  """Waits for every process; the first failure (or the timeout) stops the rest. Returns the
  exit status: the failing process's, 124 on timeout, 128 + N for a process killed by signal N."""
  deadline = None if timeout is None else time.monotonic() + timeout
  status = 0
  while any(proc.poll() is None for proc in procs):
    failed = [(i, proc.returncode) for i, proc in enumerate(procs) if proc.returncode]
    if failed:
      reason, status = f"process {failed[0][0]} exited with status {failed[0][1]}", failed[0][1]
    elif deadline is not None and time.monotonic() > deadline:
      reason, status = f"--timeout={timeout:g} s passed", 124
    else:
      time.sleep(0.2)
      continue
    print(f"local_cluster: {reason}; stopping every process", file=sys.stderr, flush=True)
    for proc in procs:
      if proc.poll() is None:
        proc.terminate()
    for proc in procs:
      proc.wait()
    break
  status = status or next((proc.returncode for proc in procs if proc.returncode), 0)
  return 128 - status if status < 0 else status  # killed by a signal: the shell's convention


def with_device_count(xla_flags: str, count: int) -> str:
  """`xla_flags` with its host device count (if any) replaced by `count`; the caller's other XLA
  flags reach every process unchanged."""
  kept = [f for f in xla_flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
  return " ".join([*kept, f"--xla_force_host_platform_device_count={count}"])


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--processes", type=int, default=2)
  p.add_argument("--devices-per-process", type=int, default=None,
                 help="fake CPU devices per process (XLA's host platform device count)")
  p.add_argument("--timeout", type=float, default=None, help="seconds before every process is stopped")
  p.add_argument("launcher", help="e.g. launch/mapping.py")
  p.add_argument("args", nargs=argparse.REMAINDER, help="the launcher's own flags and overrides")
  args = p.parse_args()
  if args.processes < 1:
    raise SystemExit(f"--processes must be at least 1, got {args.processes}")
  script = pathlib.Path(args.launcher)
  if not script.is_file():
    raise SystemExit(f"launcher {args.launcher!r} not found (give a path such as launch/mapping.py)")
  base = {**os.environ, "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}",
          "JAX_NUM_PROCESSES": str(args.processes), "PYTHONUNBUFFERED": "1"}
  if args.devices_per_process:
    base["XLA_FLAGS"] = with_device_count(os.environ.get("XLA_FLAGS", ""), args.devices_per_process)
  with tempfile.TemporaryDirectory() as logs:
    procs, outs = [], []
    for i in range(args.processes):
      out = None if i == 0 else open(pathlib.Path(logs) / f"{i}.log", "w+")
      procs.append(subprocess.Popen([sys.executable, str(script), *args.args],
                                    env={**base, "JAX_PROCESS_ID": str(i)}, stdout=out,
                                    stderr=None if out is None else subprocess.STDOUT))
      outs.append(out)
    status = wait_all(procs, args.timeout)
    for i, out in enumerate(outs):
      if out is None:
        continue
      out.seek(0)
      for line in out.read().splitlines():
        print(f"[process {i}] {line}")
      out.close()
  sys.exit(status)


if __name__ == "__main__":
  main()
