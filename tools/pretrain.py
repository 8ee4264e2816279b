"""Pretrain the small ViT on the procedural set: this machine's stand-in for ImageNet weights.

    python tools/pretrain.py --seed 0     # the default backbone (with no argument: usage, nothing runs)
    python tools/pretrain.py --verify 8   # retrain 8 iterations: does this machine train the shipped bits?
    python tools/pretrain.py [--config configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py]
                             [--seed N] [--out checkpoints/vit-6l128_procedural-64.pth] [--force]

Writes the procedural set (data/procedural/, mmpretrain's CustomDataset
layout; data/procedural_seed{N}/ for --seed N) if it is not there, trains the
config with mmengine's Runner (deterministic, the config's thread count) and
keeps the final weights at ``--out`` (default: checkpoints/vit-6l128_procedural-64.pth
for seed 0, where the demo configs' ``init_cfg`` finds it, and
checkpoints/vit-6l128_procedural-64_seed{N}.pth for the others, where the
sweep's --pretrain-seeds find them). An existing ``--out`` is reused unless
``--force``; the demo and the sweep call the same function, so nothing is
pretrained twice. ``--seed`` seeds both the set and training.

The repository ships the seed-0 backbone (checkpoints/vit-6l128_procedural-64.pth),
made by this tool; its meta holds the sha256 of its weights and of the
weights after iterations 8, 100 and 1000 (``weights_trace``). ``--verify N``
retrains the first N iterations (about a minute for 8) and says whether they
give the same bits; a whole run to another ``--out`` prints whether its
weights are the shipped ones.

Before torch loads, the CPU kernels are pinned to one set every AVX2 x86-64
CPU has (ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=COMPATIBLE,
ONEDNN_MAX_CPU_ISA=AVX2; mmdoei.utils.numerics), so CPUs of other makes
train the same bits: a variable you set yourself wins and is printed as
yours, ``--no-cpu-pin`` leaves the machine's choice, and on a CPU without
AVX2 nothing is pinned (docs/user_guides/demo.md).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from typing import Optional, Sequence  # noqa: E402

# mmengine and mmdoei are imported in main(), after the arguments are parsed: --help answers at once.
PRETRAIN_CONFIG = 'configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py'  # mmdoei.apis.pretrain's, checked in main
SHIPPED = 'checkpoints/vit-6l128_procedural-64.pth'  # the shipped backbone (PRETRAINED_CHECKPOINT), checked in main
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pin_cpu(enabled: bool = True) -> None:
    """Pin torch's CPU kernels (mmdoei/utils/numerics.py, loaded by path: ``import mmdoei`` would import torch
    first, and the libraries read the variables when they load) and print what was set."""
    import importlib.util
    path = osp.join(osp.dirname(osp.abspath(__file__)), '..', 'mmdoei', 'utils', 'numerics.py')
    spec = importlib.util.spec_from_file_location('_mmdoei_numerics', path)
    numerics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numerics)
    for line in numerics.pin_cpu_numerics(enabled=enabled):
        print(line, flush=True)


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1``), imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        MMEngineDictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Pretrain (or reuse) the backbone as the command line says; see the module docstring."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', help=f'the pretraining config (default: the repository\'s {PRETRAIN_CONFIG})')
    parser.add_argument('--seed', type=int, default=0, help='seeds the procedural set and training')
    parser.add_argument('--out', help='where the checkpoint is kept (default: checkpoints/'
                        'vit-6l128_procedural-64.pth, with _seed{N} for seeds other than 0)')
    parser.add_argument('--data-root', help="the procedural set's folder (default: data/procedural, "
                        'with _seed{N} for seeds other than 0)')
    parser.add_argument('--work-dir', help='the runner work dir (default work_dirs/pretrain/<config>)')
    parser.add_argument('--force', action='store_true', help='pretrain even if --out exists')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    parser.add_argument('--verify', type=int, metavar='N',
                        help='retrain only the first N iterations (8, 100 or 1000) and compare the weights with '
                        "the shipped backbone's record of them (or --reference's); exit status 1 if they differ")
    parser.add_argument('--reference', help='the backbone --verify and a finished run compare with (default: the '
                        f'shipped {SHIPPED})')
    parser.add_argument('--no-cpu-pin', action='store_true',
                        help='leave the CPU kernels to the machine (default: ATEN_CPU_CAPABILITY=avx2, '
                        'MKL_CBWR=COMPATIBLE, ONEDNN_MAX_CPU_ISA=AVX2 where unset, so that other CPUs train '
                        'the same bits)')
    if not argv:
        # a bare run used to start a 12-minute job in the current folder: ask for one word of intent
        parser.error('no arguments: this pretrains for about 12 minutes on 2 cores and writes data/procedural/ '
                     'and checkpoints/ under the current folder; to run it with the defaults, give --seed 0')
    args = parser.parse_args(argv)

    pin_cpu(not args.no_cpu_pin)  # before torch loads: mmdoei imports it
    from mmdoei.apis import pretrain
    from mmdoei.apis.pretrain import pretrain_backbone, pretrained_checkpoint, procedural_root
    if pretrain.PRETRAIN_CONFIG != PRETRAIN_CONFIG or pretrain.PRETRAINED_CHECKPOINT != SHIPPED:
        raise RuntimeError(f'{__file__}: PRETRAIN_CONFIG or SHIPPED differs from mmdoei.apis.pretrain\'s: update it')
    config = args.config or osp.join(ROOT, PRETRAIN_CONFIG)  # the repository's, from any folder
    reference = args.reference or osp.join(ROOT, SHIPPED)
    data_root = args.data_root or procedural_root(args.seed)
    if args.verify is None and (args.reference or osp.exists(reference)):
        # checked before a 44-minute run, not after it: the run ends by comparing with it
        from mmdoei.apis.pretrain import read_backbone_meta
        try:
            read_backbone_meta(reference, '--reference backbone')
        except (OSError, ValueError) as e:
            parser.error(str(e))
    if args.verify is not None:
        sys.exit(verify(args.verify, reference, config, data_root, args.work_dir, args.seed,
                        args.cfg_options))
    try:
        out = pretrain_backbone(config, args.out or pretrained_checkpoint(args.seed), data_root=data_root,
                                work_dir=args.work_dir, force=args.force, cfg_options=args.cfg_options, seed=args.seed)
    except ValueError as e:  # a cached --out of other settings, refused before any work
        parser.error(str(e))
    if osp.exists(reference) and osp.abspath(out) != osp.abspath(reference):
        compare_weights(out, reference)


def verify(steps: int, reference: str, config: str, data_root: str, work_dir: Optional[str],
           seed: int, cfg_options: Optional[dict] = None) -> int:
    """Run ``--verify``: print each loss and the verdict; the exit status (0: the same bits)."""
    from mmdoei.apis.pretrain import verify_pretraining
    try:
        res = verify_pretraining(steps, reference, config, data_root=data_root, seed=seed, cfg_options=cfg_options,
                                 work_dir=work_dir or osp.join('work_dirs', 'pretrain', f'verify_seed{seed}'))
    except (OSError, ValueError) as e:  # a missing, unreadable or malformed reference, before any training
        print(f'--verify: {e}', file=sys.stderr)
        return 2
    for i, loss in enumerate(res['losses'], 1):
        print(f'[verify] iteration {i}: loss {loss!r}')
    verdict = 'the same bits as' if res['same'] else 'NOT the bits of'
    print(f'[verify] weights after iteration {steps}: sha256 {res["sha256"]}: {verdict} {reference} '
          f'({res["reference_sha256"]})')
    return 0 if res['same'] else 1


def compare_weights(out: str, reference: str) -> None:
    """Print whether a finished run's weights are ``reference``'s (both record ``weights_sha256``)."""
    from mmdoei.apis.pretrain import read_backbone_meta
    mine, theirs = read_backbone_meta(out), read_backbone_meta(reference, 'reference backbone')
    if mine.get('pretrain_stamp') != theirs.get('pretrain_stamp'):
        print(f'[pretrain] {out} was made with other settings than {reference}: not compared')
        return
    same = mine.get('weights_sha256') == theirs.get('weights_sha256')
    print(f'[pretrain] weights sha256 {mine.get("weights_sha256")}: '
          f'{"the same as" if same else "NOT the same as"} {reference}\'s ({theirs.get("weights_sha256")})')


if __name__ == '__main__':
    main()
