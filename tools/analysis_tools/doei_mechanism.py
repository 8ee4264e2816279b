r"""What DOEI does to one image and class, block by block: a PNG grid and a json.

    python tools/analysis_tools/doei_mechanism.py configs/doei/mct_voc.py --checkpoint doei-mct_voc.pth \
        --image demo/chelsea.jpg --class cat --out work_dirs/mechanism

Writes OUT/mechanism.png (a row per optimised block: the patch tokens PPDO amplified in
green and suppressed in red, the HFA-blended scores, the block's attention CAM) and
OUT/mechanism.json (also the class tokens CPDO amplified and suppressed), read from the
DOEI attach handle's recording. ``compare_cams.py --mechanism OUT`` puts it in a report.
"""
import argparse
import sys

# mmdoei (and with it torch) is imported in main(), after the arguments are parsed: --help answers at once.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a stage-1 config (or zoo model name) with DOEI, or use --doei')
    parser.add_argument('--checkpoint', help='weights (default: the freshly initialised model)')
    parser.add_argument('--image', required=True, help='the image file')
    parser.add_argument('--class', dest='cls', required=True, help='the class: a name or a 0-based index')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--doei', action='store_true', help='attach DOEI with default settings if the config '
                        'has none')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmdoei.analysis.mechanism import mechanism_view, record_mechanism, write_mechanism
    from mmdoei.apis.inference import _load, init_model, model_class_names, resolve_labels
    from mmdoei.doei import doei_handle
    from mmdoei.utils import setup_env
    setup_env()
    model = init_model(args.config, args.checkpoint, doei=dict() if args.doei else None)
    names = model_class_names(model)
    cls = args.cls if not args.cls.isdigit() else int(args.cls)
    try:
        c = resolve_labels([cls], names)[0]
        handle = doei_handle(model)
        if handle is None:
            raise ValueError(f'{args.config}: the model has no DOEI; give a DOEI config or --doei')
        batch = _load(model, args.image)
        records = record_mechanism(model, batch['inputs'])
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'doei_mechanism: {e}')
    # One class token per class (MCTformer): that class's token; else the class token.
    token = c if handle.num_cls == len(names) else 0
    view = mechanism_view(records, token)
    rgb = batch['bgr'][..., ::-1].copy()
    files = write_mechanism(args.out, view, rgb, names[c])
    for v in view:
        print(f'block {v["block"]}: {len(v["amplified"])} patches amplified, {len(v["suppressed"])} suppressed; '
              f'CPDO amplified tokens {v["cpdo_amplified"]}')
    print(f'wrote {files["png"]} and {files["json"]}')


if __name__ == '__main__':
    main()
