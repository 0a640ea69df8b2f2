import gymnax
import jax
import pytest

from jaxpg import envs


@pytest.mark.parametrize("name", gymnax.registered_envs)
def test_every_gymnax_id_is_made_by_name(name):
    if name == "MNISTBandit-bsuite":  # downloads MNIST when built: offline, a clear error
        try:
            envs.make(name)
        except ValueError as e:
            assert "fetches data over the network" in str(e)
            pytest.skip("MNISTBandit-bsuite needs to download MNIST")
    env, params = envs.make(name)
    assert name in envs.names()
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == envs.obs_shape(env, params)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        envs.make("NoSuchEnv-v0")
    msg = str(e.value)
    assert msg.startswith("unknown environment 'NoSuchEnv-v0'; valid names: ")
    for name in ("CartPole-v1", "Acrobot-v1", "TwoArmedBandit-probe"):
        assert name in msg


@pytest.mark.parametrize("typed, meant", [("cartpole-v1", "'CartPole-v1'"), ("CartPole-v9", "'CartPole-v1'"),
                                          ("acrobot", "'Acrobot-v1'"), ("breakout-minatar", "'Breakout-MinAtar'")])
def test_a_close_name_is_suggested_instead_of_the_whole_list(typed, meant):
    with pytest.raises(ValueError, match=rf"unknown environment '{typed}'; did you mean {meant}[ ?]") as e:
        envs.make(typed)
    assert "valid names" not in str(e.value)


def test_discrete_and_continuous_are_told_apart():
    assert envs.is_discrete(*envs.make("CartPole-v1"))
    assert not envs.is_discrete(*envs.make("Pendulum-v1"))
    assert envs.num_actions(*envs.make("Acrobot-v1")) == 3
    with pytest.raises(ValueError, match="continuous action space"):
        envs.num_actions(*envs.make("MountainCarContinuous-v0"))
