"""Command-line pieces every ``perception`` command shares: dataset selection, device, help that shows defaults.

One meaning per flag: ``--dataroot`` a nuScenes-format dataset root, ``--version`` its version folder (found when
the root holds one), ``--scene`` a scene name (default: the first), ``--index`` a keyframe of that scene,
``--split`` an official or ``splits.json`` split, ``--sweeps`` past lidar sweeps accumulated per frame.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends every option with its default, except where the help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        absent = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or absent or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def add_dataset_arguments(parser: argparse.ArgumentParser, dataroot_default: Path | None = None,
                          scene: bool = True, index: bool = False, split: bool = False) -> None:
    """``--dataroot`` (required unless it has a default), ``--version`` and, as asked, ``--scene``, ``--index``,
    ``--split``."""
    group = parser.add_argument_group("dataset")
    group.add_argument("--dataroot", type=Path, required=dataroot_default is None, default=dataroot_default,
                       help="nuScenes-format dataset root")
    group.add_argument("--version", default=None,
                       help="version folder of the tables (default: the only one under --dataroot)")
    if scene:
        group.add_argument("--scene", default=None, help="scene name (default: the first)")
    if index:
        group.add_argument("--index", type=int, default=0, help="keyframe index in the scene")
    if split:
        group.add_argument("--split", default=None,
                           help="official split (e.g. mini_val) or one from <version>/splits.json (default: all "
                                "keyframes of the version; for --results, the keyframes the file covers)")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def open_dataset_arg(args: argparse.Namespace, num_sweeps: int = 0) -> NuScenesDataset:
    """The dataset that ``--dataroot``/``--version`` name, with ``num_sweeps`` past sweeps per frame."""
    return NuScenesDataset(args.dataroot, args.version, num_sweeps=num_sweeps)


def scene_arg(dataset: NuScenesDataset, args: argparse.Namespace) -> str:
    """``--scene``, checked, or the dataset's first scene."""
    names = dataset.scene_names()
    if not names:
        raise DataError("the dataset has no scenes", dataset.dataroot / dataset.version / "scene.json")
    return dataset.scene(args.scene)["name"] if args.scene else names[0]


def keyframe_arg(dataset: NuScenesDataset, args: argparse.Namespace) -> tuple[str, str]:
    """(scene name, sample token) of ``--scene`` and ``--index``."""
    scene = scene_arg(dataset, args)
    tokens = dataset.sample_tokens(scene)
    if not 0 <= args.index < len(tokens):
        raise DataError(f"scene {scene} has {len(tokens)} keyframes; --index {args.index} is out of range")
    return scene, tokens[args.index]


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept ``old`` (hidden from help) for what is now ``new``, with a warning on stderr when used."""

    class Alias(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"warning: {old} is deprecated here; use {new}", file=sys.stderr)
            setattr(namespace, dest, values)

    parser.add_argument(old, action=Alias, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)
