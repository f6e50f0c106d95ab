"""The command line as a whole: help, shared dataset flags, one-line errors, renamed flags that keep working."""
import pytest
import torch

from perception.cli import build_parser, main


def test_no_arguments_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: perception") and all(name in out for name in ("replay", "eval", "detect", "train"))


@pytest.mark.parametrize("command, default", [
    (["detect"], "(default: data/synth-default)"),
    (["detect"], "(default: demo)"),
    (["replay"], "(default: outputs/replay)"),
    (["eval"], "(default: outputs/eval)"),
    (["bench"], "(default: 100)"),
    (["data", "synth"], "(default: 9)"),
    (["viz"], "(default: 0.3)"),
])
def test_help_shows_defaults(capsys, command, default):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    assert "".join(default.split()) in "".join(capsys.readouterr().out.split())  # help wraps at hyphens


def test_missing_dataroot_is_one_line(tmp_path, capsys):
    assert main(["eval", "--results", str(tmp_path / "r.json"), "--dataroot", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nowhere'}: dataset root does not exist"


def test_version_must_be_chosen_when_a_root_holds_several(tmp_path, capsys):
    for version in ("v1.0-a", "v1.0-b"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "sample.json").write_text("[]")
    assert main(["data", "check", "--dataroot", str(tmp_path)]) == 2
    assert "several nuScenes versions here (v1.0-a, v1.0-b); choose one with --version" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(synth_root, tmp_path, capsys):
    assert main(["detect", "--dataroot", str(synth_root), "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU is available" in err


def test_renamed_flags_keep_working_with_a_warning(capsys):
    args = build_parser().parse_args(["replay", "--source", "mcap", "--sweeps", "all"])
    assert args.detect_on == "all" and "--sweeps is deprecated here; use --detect-on" in capsys.readouterr().err
    args = build_parser().parse_args(["data", "synth", "--out", "x", "--sweeps", "3"])
    assert args.nonkey_sweeps == 3
    assert build_parser().parse_args(["data", "synth", "--out", "x"]).nonkey_sweeps == 9


@pytest.mark.parametrize("flags, message", [(["--scenes", "0"], "scenes and frames must be at least 1, got 0"),
                                            (["--nonkey-sweeps", "10"], "non-key sweeps must be in 0..9, got 10"),
                                            (["--scenes", "2", "--val-scenes", "3"], "must be in 0..2")])
def test_impossible_synth_options_are_one_line_errors(tmp_path, capsys, flags, message):
    assert main(["data", "synth", "--out", str(tmp_path / "synth"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "synth").exists()


@pytest.mark.parametrize("scale", ["0", "1.5", "half"])
def test_a_camera_scale_outside_0_to_1_is_a_usage_error(tmp_path, capsys, scale):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth", "--out", str(tmp_path / "synth"), "--camera-scale", scale])
    assert exit_.value.code == 2 and "--camera-scale" in capsys.readouterr().err
    assert not (tmp_path / "synth").exists()
