"""Writes one frame each of Pendulum-v1 and Acrobot-v1 drawn by ``jaxpg.render`` (mid-swing).

The states are fixed (nothing is trained or simulated): the env's reset state with the
angles replaced, so the pictures are reproducible and show gymnasium's geometry::

    python experiments/render_frames.py                 # docs/render-pendulum.png, docs/render-acrobot.png
    python experiments/render_frames.py --out-dir /tmp  # elsewhere

Pendulum: ``theta`` 2.3 rad from upright (counter-clockwise, so the rod hangs to the lower
left) with last torque ``last_u`` -1.4 (the clockwise arrow). Acrobot: ``joint_angle1``
1.9 rad and ``joint_angle2`` 0.8 rad (the first link up to the right, the second bent
further counter-clockwise, its tip at height ``-cos a1 - cos(a1 + a2)`` = 1.23, just past the
goal line at 1).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PENDULUM = {"theta": 2.3, "last_u": -1.4}
ACROBOT = {"joint_angle1": 1.9, "joint_angle2": 0.8}


def frame(env_name: str, fields: dict):
    """The frame of ``env_name``'s reset state (key 0) with ``fields`` replaced: uint8 [H, W, 3]."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxpg import envs, render

    env, params = envs.make(env_name)
    _, state = env.reset_env(jax.random.key(0), params)
    state = state.replace(**{k: jnp.float32(v) for k, v in fields.items()})
    return np.asarray(jax.jit(render.renderer(env_name))(state, params))


def write_png(img, path: Path) -> None:
    """Writes ``img`` as a palette PNG (the frames have a handful of colours), atomically."""
    import numpy as np
    from PIL import Image

    colours = np.unique(img.reshape(-1, 3), axis=0)
    if len(colours) > 256:
        raise ValueError(f"{len(colours)} colours do not fit a palette")
    index = np.zeros(img.shape[:2], np.uint8)
    for i, c in enumerate(colours):
        index[np.all(img == c, axis=-1)] = i
    out = Image.fromarray(index, mode="P")
    out.putpalette(colours.astype(np.uint8).reshape(-1).tolist())
    tmp = path.with_name(f".{path.name}.tmp")
    out.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs",
                    help="folder for render-pendulum.png and render-acrobot.png (default: docs/)")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, env_name, fields in (("render-pendulum.png", "Pendulum-v1", PENDULUM),
                                   ("render-acrobot.png", "Acrobot-v1", ACROBOT)):
        path = args.out_dir / name
        img = frame(env_name, fields)
        write_png(img, path)
        print(f"wrote {path}: {env_name} {fields}, {img.shape[1]}x{img.shape[0]}, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
