"""``ferapp data inspect PATH [--format auto] [--json]``: print what a dataset reader finds."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``data`` (with ``inspect``) on the main CLI's subparsers."""
    p = subparsers.add_parser("data", help="inspect datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    ins = sub.add_parser(
        "inspect", help="summarise a dataset: counts per class and split, subjects, problems"
    )
    ins.add_argument("path")
    ins.add_argument("--format", default="auto", help="dataset format (default: auto-detect)")
    ins.add_argument("--json", action="store_true", help="machine-readable report")
    ins.add_argument("--keep-contempt", action="store_true")
    ins.add_argument("--ferplus", choices=["majority", "soft"], default=None)
    ins.add_argument("--cache-dir", default=None)
    ins.set_defaults(func=run_inspect)
    return p


def run_inspect(args: argparse.Namespace) -> int:
    from ferapp.data import DatasetError, load_dataset, summarize
    from ferapp.data.locate import locate_dataset
    from ferapp.data.summary import dataset_warnings

    try:
        found = locate_dataset(args.path)  # a folder holding only CK+48.zip means that archive
        if found.note:
            print(f"note: {found.note}", file=sys.stderr)
        ds = load_dataset(
            found.path,
            args.format,
            keep_contempt=args.keep_contempt,
            ferplus=args.ferplus,
            cache_dir=args.cache_dir,
        )
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        r = ds.report
        print(
            json.dumps(
                {
                    "format": r.format,
                    "path": r.path,
                    "samples": len(ds),
                    "labels": list(ds.label_names),
                    "image_size": list(ds.images.shape[1:]),
                    "counts": r.counts,
                    "num_subjects": r.num_subjects,
                    "warnings": r.warnings + [w for w in dataset_warnings(ds) if w not in r.warnings],
                    "skipped": [list(s) for s in r.skipped],
                    "skipped_count": r.skipped_count,
                    "fingerprint": ds.fingerprint,
                },
                indent=2,
            )
        )
    else:
        print(summarize(ds))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferapp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
