"""``--config FILE.toml``: flags from a file, the command line winning, the file kept with the run."""

import pytest

from jaxpg.cli import build_parser, flags, main
from jaxpg.cli.config_file import expand

FILE = """
env = "Acrobot-v1"
seeds = 3
num_envs = 4          # a field-style key
hidden = [32, 16]
learning_rate = 0.02  # a field name: --lr
obs-norm = true
advantage = "value"
quiet = true
"""


def _parse(tmp_path, argv, text=FILE):
    (tmp_path / "c.toml").write_text(text)
    argv = [argv[0], "--config", str(tmp_path / "c.toml"), *argv[1:]]
    expanded, path = expand(argv, build_parser())
    assert path == tmp_path / "c.toml"
    return build_parser().parse_args(expanded), expanded


def test_the_file_sets_flags_and_the_command_line_wins(tmp_path):
    args, _ = _parse(tmp_path, ["train", "--lr", "0.5", "--seeds", "2"])
    config, hparams, _ = flags.settings(args)
    assert (config.env, config.num_envs, config.hidden, config.obs_norm, config.advantage) == (
        "Acrobot-v1", 4, (32, 16), True, "value")
    assert hparams.learning_rate == 0.5 and args.seeds == 2 and args.quiet  # the command line's --lr, --seeds
    args, _ = _parse(tmp_path, ["train"])
    assert flags.settings(args)[1].learning_rate == 0.02 and args.seeds == 3


def test_a_list_is_a_sweep_axis_and_false_is_the_no_form(tmp_path):
    args, expanded = _parse(tmp_path, ["sweep"], 'lr = [1e-3, 0.01]\ngamma = [0.9, 1]\nobs_norm = false\n')
    _, _, lists = flags.settings(args, sweep=True)
    assert lists == {"learning_rate": [1e-3, 0.01], "gamma": [0.9, 1.0]}
    assert "--no-obs-norm" in expanded and args.obs_norm is False


@pytest.mark.parametrize("text, argv, message", [
    ("num_env = 4\n", ["train"], "unknown setting 'num_env' for jaxpg train (did you mean num-envs?)"),
    ("lr = \n", ["train"], "is not valid TOML"),
    ("seeds = true\n", ["train"], "seeds = true: --seeds takes a value, not true/false"),
    ("hidden = []\n", ["train"], "hidden: expected a non-empty list of values"),
    ("seeds = 2\n", ["train", "--resume", "runs/x"], "--config does not apply to --resume"),
])
def test_bad_files_are_one_line(tmp_path, capsys, text, argv, message):
    (tmp_path / "c.toml").write_text(text)
    assert main([argv[0], "--config", str(tmp_path / "c.toml"), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.toml")]) == 2
    assert "--config: cannot read" in capsys.readouterr().err


@pytest.mark.slow
def test_the_run_directory_keeps_the_file(tmp_path):
    text = 'env = "CartPole-v1"\nseeds = 2\nnum-envs = 4\nhidden = [8]\nmax-steps = 20\nupdates = 2\n' \
           'eval-episodes = 2\nquiet = true\n'
    (tmp_path / "c.toml").write_text(text)
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "config.toml").read_text() == text
