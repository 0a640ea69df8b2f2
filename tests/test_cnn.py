"""The cnn torso (``Config(policy="cnn")``, ``--policy cnn``): image observations [H, W, C]."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg import policies
from jaxpg.types import Config


def test_a_cnn_policy_maps_images_to_logits_and_its_value_net_to_values():
    policy = policies.mlp_policy((8,), 3, "relu", obs_ndim=3, torso="cnn")
    obs = jax.random.uniform(jax.random.key(0), (3, 2, 4, 5, 2))  # [T, N, H, W, C]
    variables = policy.init(jax.random.key(1), obs[0, 0])
    conv = variables["params"]["Conv_0"]["kernel"]
    assert conv.shape == (3, 3, 2, 16)  # CNN_LAYERS: one 3x3 convolution of 16 filters over the 2 channels
    assert variables["params"]["Dense_0"]["kernel"].shape == (4 * 5 * 16, 8)  # SAME padding, stride 1
    assert policy.apply(variables, obs).shape == (3, 2, 3)
    # rows are independent: a batch gives what each observation gives alone
    np.testing.assert_allclose(policy.apply(variables, obs)[2, 1], policy.apply(variables, obs[2, 1]), rtol=1e-5,
                               atol=1e-6)
    value = policies.value_network((8,), "relu", obs_ndim=3, torso="cnn")
    v = value.apply(value.init(jax.random.key(2), obs[0, 0]), obs)
    assert v.shape == (3, 2)


def test_a_frame_stack_gives_the_cnn_its_frames_as_channels():
    """K frames [K, H, W, C] are the image [H, W, K*C] with frame k's channels at k*C..k*C+C-1."""
    frames = jax.random.uniform(jax.random.key(0), (3, 2, 4, 4, 3))  # [batch, K=2, H, W, C=3]
    stacked = policies.mlp_policy((8,), 2, obs_ndim=4, frame_stack=2, torso="cnn")
    flat = policies.mlp_policy((8,), 2, obs_ndim=3, torso="cnn")
    variables = stacked.init(jax.random.key(1), frames[0])
    as_channels = jnp.concatenate([frames[:, 0], frames[:, 1]], axis=-1)  # [batch, H, W, 6]
    np.testing.assert_allclose(stacked.apply(variables, frames), flat.apply(variables, as_channels), rtol=1e-6)


def test_the_cnn_refuses_vector_observations_before_tracing():
    with pytest.raises(ValueError, match=r"needs image observations \[H, W, C\]; this env's frame has 1 axes"):
        policies.mlp_policy((8,), 2, obs_ndim=1, torso="cnn")
    with pytest.raises(ValueError, match="policy torso must be one of mlp, cnn, gru, cnn-gru"):
        policies.mlp_policy((8,), 2, torso="lstm")
    with pytest.raises(ValueError, match="policy must be one of mlp, cnn"):
        Config(policy="transformer")
    from jaxpg.train import make_trainer

    with pytest.raises(ValueError, match="needs image observations"):
        make_trainer(Config(env="CartPole-v1", policy="cnn"))


MINATAR = {"Breakout-MinAtar": (4, 3), "Asterix-MinAtar": (4, 5), "Freeway-MinAtar": (7, 3),
           "SpaceInvaders-MinAtar": (6, 4), "Seaquest-MinAtar": (10, 6)}  # channels, actions


@pytest.mark.parametrize("policy", ["cnn", "cnn-gru"])
@pytest.mark.parametrize("env", sorted(MINATAR))
def test_cnn_shapes_on_every_minatar_game(env, policy):
    """Traced only (jax.eval_shape): the trainer's policy and value network on each game's
    10x10xC frames give one logit per action and one value per step."""
    from jaxpg.train import make_trainer
    from jaxpg.types import HParams

    channels, actions = MINATAR[env]
    tr = make_trainer(Config(env=env, policy=policy, hidden=(8,), advantage="value"))
    obs = jax.ShapeDtypeStruct((5, 2, 10, 10, channels), jnp.float32)  # [T, N, H, W, C]
    state = jax.eval_shape(tr.init, jax.random.key(0), HParams())
    assert state.params["params"]["Conv_0"]["kernel"].shape == (3, 3, channels, 16)
    out = jax.eval_shape(tr.policy.apply, state.params, obs)
    assert out.shape == (5, 2, actions)
    assert tr.policy.recurrent == (policy == "cnn-gru")
    if tr.policy.recurrent:
        one_step = jax.ShapeDtypeStruct((2, 10, 10, channels), jnp.float32)
        h, step = jax.eval_shape(tr.policy.step, state.params, tr.policy.initial_state((2,)), one_step)
        assert h.shape == (2, 8) and step.shape == (2, actions)
    assert state.value_params["params"]["Conv_0"]["kernel"].shape == (3, 3, channels, 16)


@pytest.mark.slow
def test_train_a_minatar_cnn_then_load_and_act(tmp_path):
    from jaxpg.agent import load
    from jaxpg.cli import main

    out = tmp_path / "breakout"
    assert main(["train", "--env", "Breakout-MinAtar", "--policy", "cnn", "--hidden", "32", "--seeds", "2",
                 "--num-envs", "4", "--updates", "3", "--max-steps", "50", "--eval-episodes", "2", "--quiet",
                 "--out", str(out)]) == 0
    agent = load(out, seed_index=0)
    obs = np.zeros((10, 10, 4), np.float32)
    assert int(agent.greedy(obs)) in range(3)
