"""gymnax CartPole-v1 (what jaxpg trains on) against gymnasium's CartPole-v1."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from jaxpg import envs


def _gymnax_state(env_module_state_cls, s, t=0):
    return env_module_state_cls(
        x=jnp.float32(s[0]), x_dot=jnp.float32(s[1]), theta=jnp.float32(s[2]),
        theta_dot=jnp.float32(s[3]), time=t,
    )


def test_same_state_same_actions_same_transitions():
    from gymnax.environments.classic_control.cartpole import EnvState

    env, params = envs.make("CartPole-v1")
    step = jax.jit(env.step_env)
    ref = gymnasium.make("CartPole-v1").unwrapped
    rng = np.random.default_rng(0)
    episodes = 0
    steps = 0
    for seed in range(20):
        obs_ref, _ = ref.reset(seed=seed)
        state = _gymnax_state(EnvState, ref.state)
        for t in range(500):
            action = int(rng.integers(2)) if t % 7 else int(ref.state[3] < 0)
            obs_ref, r_ref, term_ref, trunc_ref, _ = ref.step(action)
            obs, state, r, term, _ = step(jax.random.key(0), state, action, params)
            np.testing.assert_allclose(obs, obs_ref, rtol=1e-4, atol=1e-4, err_msg=f"seed {seed} t {t}")
            assert float(r) == r_ref
            assert bool(term) == term_ref, f"seed {seed} t {t}"
            steps += 1
            if term_ref:
                episodes += 1
                break
            # re-sync to the float64 reference so float32 rounding cannot accumulate
            state = _gymnax_state(EnvState, ref.state, t + 1)
    assert episodes == 20 and steps > 200


def test_whole_episode_without_resync_stays_close():
    from gymnax.environments.classic_control.cartpole import EnvState

    env, params = envs.make("CartPole-v1")
    step = jax.jit(env.step_env)
    ref = gymnasium.make("CartPole-v1").unwrapped
    ref.reset(seed=123)
    state = _gymnax_state(EnvState, ref.state)
    actions = np.random.default_rng(1).integers(0, 2, 200)
    for t, a in enumerate(actions):
        obs_ref, r_ref, term_ref, _, _ = ref.step(int(a))
        obs, state, r, term, _ = step(jax.random.key(0), state, int(a), params)
        np.testing.assert_allclose(obs, obs_ref, rtol=1e-3, atol=1e-4, err_msg=f"t {t}")
        assert bool(term) == term_ref
        if term_ref:
            break


def test_reset_distribution_matches():
    env, params = envs.make("CartPole-v1")
    obs, _ = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(jax.random.key(0), 5000), params)
    obs = np.asarray(obs)
    assert obs.min() >= -0.05 and obs.max() <= 0.05  # gymnasium: U(-0.05, 0.05) for each of 4 values
    np.testing.assert_allclose(obs.mean(0), 0.0, atol=0.003)
    np.testing.assert_allclose(obs.std(0), 0.1 / np.sqrt(12), rtol=0.05)
