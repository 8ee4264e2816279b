"""Publish a trained checkpoint for the model zoo, as OpenMMLab's publish_model.py does.

    python tools/model_converters/publish_model.py demo_out/mctformer-v2/epoch_40.pth \
        release/mctformer-v2_vit-6l128_synthvoc_demo.pth --name mctformer-v2_vit-6l128_synthvoc_demo \
        --config configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py

Reads IN with ``weights_only=True``, keeps only ``state_dict`` and ``meta``
(drops the optimizer, the schedulers, the message hub and any other training
state), and of ``meta`` only an allow-list of plain entries (:data:`META_KEYS`:
epoch, iter, seed, experiment name, time, versions, hash, dataset_meta...),
each made of numbers and one-line strings, dataset_meta without any
config-like key: inferencers such as mmseg's
``MMSegInferencer(model=None, weights=...)`` execute a config found in a
checkpoint as Python, and a deny-list (``meta['cfg']``) misses any other name
(``meta['mmdoei_config']``) or nesting, so everything not known to be
harmless goes. Writes it atomically, names it ``<stem>-<first 8 hex digits of its
sha256>.pth`` (torch.hub's convention, which mmdoei's loader checks) and prints
the metafile entry for it. The entry says ``Published: false`` until the file
is uploaded to the release named by ``--base-url`` (pass ``--published`` then):
before that it resolves through ``$MMDOEI_MIRROR`` or the cache only.
"""
import argparse
import os
import os.path as osp
import re
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

# torch and mmdoei are imported in main(), after the arguments are parsed: --help answers at once.

#: Where the project's releases will be (not live yet: the project has published none).
RELEASE_BASE = 'https://github.com/mmdoei/mmdoei/releases/download/v0.1.0/'
KEEP = ('state_dict', 'meta')
#: The ``meta`` entries a published file keeps (what mmengine's Runner and mmdoei's pretraining write,
#: minus the config); every other entry is dropped.
META_KEYS = ('epoch', 'iter', 'seed', 'experiment_name', 'time', 'hash', 'mmengine_version', 'mmdoei_version',
             'mmseg_version', 'mmpretrain_version', 'dataset_meta', 'pretrain_seconds', 'pretrain_seed',
             'pretrain_stamp')
#: Key names that say a value is (or holds) a config, at any depth (``cfg``, ``model_config``...).
CONFIG_LIKE = re.compile(r'cfg|conf', re.IGNORECASE)


def _plain(value) -> bool:
    """Whether ``value`` is data and cannot be a config: numbers, bools, None, one-line strings, and
    lists, tuples and dicts of them whose keys are one-line strings that do not look like a config's name."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return '\n' not in value and '\r' not in value
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(k) and not CONFIG_LIKE.search(k) and _plain(v)
                   for k, v in value.items())
    return False


def harmless_meta(meta: dict) -> dict:
    """The :data:`META_KEYS` entries of ``meta`` whose values are plain data (:func:`_plain`); nothing else.

    A ``dataset_meta`` keeps its plain entries (classes, palette) and loses any other.
    """
    out = {}
    for key in META_KEYS:
        if key not in meta:
            continue
        value = meta[key]
        if key == 'dataset_meta' and isinstance(value, dict):
            value = {k: v for k, v in value.items() if _plain({k: v})}
        if _plain(value):
            out[key] = value
    return out


def publish(src: str, dst: str) -> str:
    """Strip ``src`` to weights + meta, save next to ``dst`` as ``<stem>-<sha8>.pth``; returns that path."""
    import torch

    from mmdoei.utils import atomic_write
    from mmdoei.utils.download import safe_torch_load, sha256_of

    ckpt = safe_torch_load(src, map_location='cpu')
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'), dict):
        raise ValueError(f'{src}: not an mmengine checkpoint (no state_dict); keys: '
                         f'{sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__}')
    out = {k: ckpt[k] for k in KEEP if k in ckpt}
    if isinstance(out.get('meta'), dict):
        out['meta'] = harmless_meta(out['meta'])
    stem = osp.splitext(dst)[0]
    tmp = stem + '.unhashed.pth'
    with atomic_write(tmp) as f:
        torch.save(out, f)
    final = f'{stem}-{sha256_of(tmp)[:8]}.pth'
    os.replace(tmp, final)
    return final


def metafile_entry(path: str, name: str, config: str, collection: str, base_url: str, published: bool) -> dict:
    """The ``Models`` entry of a published file (Results are filled in by hand: say how they were measured)."""
    entry = {'Name': name, 'In Collection': collection, 'Config': config,
             'Results Note': 'fill in: the numbers, and the data and command that measured them'}
    if not published:
        entry['Published'] = False
    entry['Weights'] = base_url.rstrip('/') + '/' + osp.basename(path)
    if not published:
        entry['Weights Note'] = ('not live yet; until it is uploaded there, it loads from $MMDOEI_MIRROR '
                                 'or the cache')
    return entry


def main(argv=None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('in_file', help='a checkpoint saved by the Runner')
    parser.add_argument('out_file', help='output path; the hash is inserted before .pth')
    parser.add_argument('--name', help='model name in the zoo (default: the output stem)')
    parser.add_argument('--config', default='CONFIG', help='its config, relative to the repository root')
    parser.add_argument('--collection', default='mmdoei demo', help='the metafile collection')
    parser.add_argument('--base-url', default=RELEASE_BASE, help='the release the file is uploaded to')
    parser.add_argument('--published', action='store_true', help='the file is already at --base-url')
    args = parser.parse_args(argv)

    import yaml

    from mmdoei.utils.download import sha256_of

    final = publish(args.in_file, args.out_file)
    name = args.name or osp.basename(osp.splitext(args.out_file)[0])
    entry = metafile_entry(final, name, args.config, args.collection, args.base_url, args.published)
    print(f'{args.in_file} -> {final} (sha256 {sha256_of(final)})\nmetafile entry:\n')
    print(yaml.safe_dump([entry], sort_keys=False, width=120))


if __name__ == '__main__':
    main()
